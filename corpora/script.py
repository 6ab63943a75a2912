"""Scripted dialogue for the synthetic corpus: films, characters, recurring scenes and lines.

Most lines carry their emotion in the wording ("I can't believe you lied to me again!"); a share of
neutral-worded lines ("The train leaves at seven.") is spoken with an emotion anyway, so that the face and
the scene, not the words, are what tell it. Everything is drawn from one seeded generator: the same seed
gives the same script.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ground.messages import EMOTIONS

NAMES = (
    "Anna", "Ben", "Clara", "David", "Elena", "Frank", "Grace", "Henry", "Iris", "Jack", "Kate", "Leo",
    "Maya", "Nora", "Oscar", "Paul", "Rosa", "Sam", "Tessa", "Victor", "Wendy", "Max", "Lily", "Tom",
)  # fmt: skip
THINGS = ("the letter", "the keys", "the money", "my car", "the ring", "the map", "the photos", "the box",
          "your phone", "the cake", "the plan", "the door")  # fmt: skip
PLACES = ("the station", "the old house", "the harbour", "the market", "the school", "the garden",
          "the bridge", "the hospital", "the village", "the forest")  # fmt: skip
TIMES = ("seven", "nine", "noon", "midnight", "ten past eight", "half past four")

# Wording that carries the emotion. {name}, {thing}, {place}, {time} are filled per line.
EMOTIONAL_LINES: dict[str, tuple[str, ...]] = {
    "angry": (
        "How dare you take {thing} without asking me!",
        "I told you never to come back here, and you did it anyway!",
        "Get out of my house right now, {name}!",
        "You lied to me again, and I am sick of it!",
        "Stop wasting my time and give me {thing}!",
        "This is the last time you ruin everything for me!",
        "Who gave you the right to open {thing}?",
        "I have had enough of your excuses, {name}!",
    ),
    "disgust": (
        "Ugh, that smell from {place} is making me sick.",
        "Get that filthy thing away from me.",
        "I can't believe you would eat something so rotten.",
        "That is the most revolting thing I have ever seen.",
        "There is slime all over {thing}, it is disgusting.",
        "Yuck, don't touch me with those dirty hands.",
        "The whole kitchen is crawling with bugs, how gross.",
    ),
    "fear": (
        "Please, don't hurt me, I'll give you {thing}!",
        "Did you hear that noise? Someone is in {place}.",
        "I'm scared, {name}, I think they are coming back.",
        "We have to hide before it finds us!",
        "Something is moving in the dark, I can't breathe.",
        "Help me, please, I don't want to die here!",
        "The lights went out and I am all alone.",
    ),
    "happy": (
        "We did it, {name}, we really won!",
        "This is the best day of my whole life!",
        "I love it, thank you so much for {thing}!",
        "Oh, I'm so glad you came home for the holidays!",
        "Everything worked out perfectly, I could dance!",
        "You got the job? That is wonderful news!",
        "What a beautiful morning to be at {place}!",
    ),
    "sad": (
        "I miss her so much, {name}, nothing feels the same.",
        "He is gone, and he is never coming back.",
        "I waited all night, but nobody came.",
        "I'm sorry, I lost {thing}, and it was all I had left.",
        "It doesn't matter anymore, nothing I do matters.",
        "We used to walk to {place} together every day.",
        "I tried so hard, and I still failed them.",
    ),
    "surprise": (
        "Wait, what? You found {thing} in {place}?",
        "No way! Is that really you, {name}?",
        "Oh my goodness, I didn't expect to see you here!",
        "You mean the whole town knew all along?",
        "Really? The party is tonight?",
        "Wow, how did you get here so fast?",
        "What? The door was open the whole time?",
    ),
    "neutral": (
        "The meeting starts at {time} in the main hall.",
        "Please put {thing} on the table by the window.",
        "I think we should take the road past {place}.",
        "The weather report says it will rain tomorrow.",
        "Let me know when you are ready to leave.",
        "{name} usually arrives at the office around {time}.",
        "We need to buy bread and milk on the way home.",
    ),
    "contempt": (
        "Oh, please, as if you could ever understand.",
        "You call that work? My little brother does better.",
        "How cute, {name} thinks he is the boss now.",
        "I expected nothing from you, and you still disappointed me.",
        "Sure, keep telling yourself that you are special.",
        "People like you never learn, do they?",
        "Go on then, show us your brilliant plan.",
    ),
}
# Wording that says nothing about the emotion: spoken with any emotion, the face and scene carry it.
NEUTRAL_WORDED_LINES = (
    "The train leaves at {time}.",
    "So you went to {place} yesterday.",
    "I put {thing} in the drawer.",
    "{name} called while you were out.",
    "We will talk about it after dinner.",
    "The shop on the corner closes early today.",
    "You can see {place} from the top of the hill.",
    "It has been three weeks since the storm.",
    "I read the whole report last night.",
    "Tell me what happened at {place}.",
)

SCENE_NAMES = ("kitchen", "street", "office", "forest", "living room", "station", "beach", "hallway")


@dataclass(frozen=True)
class ScriptLine:
    text: str
    emotion: str
    intensity: float
    wording: str  # "emotional" when the words carry the emotion, "neutral" otherwise


def fill(template: str, rng: np.random.Generator) -> str:
    text = template.format(
        name=str(rng.choice(NAMES)),
        thing=str(rng.choice(THINGS)),
        place=str(rng.choice(PLACES)),
        time=str(rng.choice(TIMES)),
    )
    return text[0].upper() + text[1:]


def draw_line(emotion: str, rng: np.random.Generator, neutral_wording_share: float = 0.2) -> ScriptLine:
    """A line for ``emotion``; with probability ``neutral_wording_share`` its words are emotion-neutral."""
    intensity = 0.0 if emotion == "neutral" else float(np.round(rng.uniform(0.4, 1.0), 2))
    if emotion != "neutral" and rng.random() < neutral_wording_share:
        template, wording = str(rng.choice(NEUTRAL_WORDED_LINES)), "neutral"
    else:
        template, wording = str(rng.choice(EMOTIONAL_LINES[emotion])), "emotional"
    return ScriptLine(fill(template, rng), emotion, intensity, wording)


def balanced_emotions(n: int, rng: np.random.Generator) -> list[str]:
    """``n`` emotion labels, as close to equally many of each class as ``n`` allows, shuffled."""
    labels = [EMOTIONS[i % len(EMOTIONS)] for i in range(n)]
    rng.shuffle(labels)
    return labels
