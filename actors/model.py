"""``ProgressiveGraphGenerator``: the actor's acoustic model (DESIGN section 4), sized for a 2-core CPU.

    phonemes -> phoneme encoder ------------------------------.
    lips -> lip encoder -> text-to-lip attention (trained on phoneme timings) -> per-video-frame content
        -> attends G1, then G2, then G3 (progressive aggregation over the emotion graphs)
    phoneme states expanded to acoustic frames by the alignment (``actors.alignment``: ground truth in
    training; at dubbing time the best monotonic path through the text-to-lip attention, so speech follows
    the lips) + each frame's place in its phoneme + the video-frame content (x4 upsampled)
        -> decoder with style-adaptive LayerNorm (style = speaker d-vector + reference style encoder +
           director's guidance) at 100 frames/s -> postnet -> WORLD features (actors.acoustics)
    phoneme encoder -> duration predictor (no-face fallback and the "does the line fit" check)

The output length is the video's by construction: each video frame is ``frames_per_video_frame``
acoustic frames and the alignment fills them exactly. The decoder and postnet are convolutional with a
finite receptive field (``decoder_context``), which is what lets streaming decode in chunks and give the
same frames as decoding the whole line.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from actors.graph import EmotionNodes, RelationalGraphAttention, num_nodes

GUIDANCE_DIM = 6  # intensity, pace, pitch shift, energy, valence, arousal (scaled to about -1..1)


@dataclass
class ActorHParams:
    vocab_size: int
    acoustic_dim: int
    caption_dim: int = 384
    audio_emotion_dim: int = 32
    dvector_dim: int = 256
    lip_dim: int = 4
    hidden: int = 128
    heads: int = 2
    phoneme_layers: int = 2
    decoder_layers: int = 6
    decoder_kernel: int = 5
    postnet_layers: int = 4
    postnet_channels: int = 64
    frames_per_video_frame: int = 4
    k: int = 3  # references per modality; 0 = no retrieval
    graph_stages: int = 3  # 1: G1 only, 2: G1+G2, 3: G1+G2+G3
    use_guidance: bool = True
    # the graphs' emotion summary (what the emotion head reads) also joins the decoder's style, as the
    # guidance does: without it the emotion reaches the decoder only through each frame's content
    graph_style: bool = False
    num_emotions: int = 8
    dropout: float = 0.1

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def stages(self) -> int:
        return 1 if self.k == 0 else self.graph_stages


def sinusoid(length: int, dim: int, device) -> torch.Tensor:
    pos = torch.arange(length, device=device, dtype=torch.float32)[:, None]
    i = torch.arange(0, dim, 2, device=device, dtype=torch.float32)
    angle = pos / torch.pow(10000.0, i / dim)
    pe = torch.zeros(length, dim, device=device)
    pe[:, 0::2], pe[:, 1::2] = torch.sin(angle), torch.cos(angle)
    return pe


class ConvBlock(nn.Module):
    def __init__(self, channels: int, kernel: int, dropout: float):
        super().__init__()
        self.conv = nn.Conv1d(channels, channels, kernel, padding=kernel // 2)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, C)
        return self.dropout(F.gelu(self.conv(x.transpose(1, 2)).transpose(1, 2)))


class StyleAdaptiveLayerNorm(nn.Module):
    """LayerNorm whose gain and bias are predicted from the style vector (Meta-StyleSpeech)."""

    def __init__(self, channels: int, style_dim: int):
        super().__init__()
        self.norm = nn.LayerNorm(channels, elementwise_affine=False)
        self.affine = nn.Linear(style_dim, 2 * channels)
        nn.init.zeros_(self.affine.weight)
        with torch.no_grad():
            self.affine.bias.copy_(torch.cat([torch.ones(channels), torch.zeros(channels)]))

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        gain, bias = self.affine(style).unsqueeze(1).chunk(2, dim=-1)
        return gain * self.norm(x) + bias


class StyleEncoder(nn.Module):
    """A reference style vector from the voice prompt's acoustic frames: convs, then attention pooling."""

    def __init__(self, acoustic_dim: int, hidden: int, dropout: float):
        super().__init__()
        self.inp = nn.Conv1d(acoustic_dim, hidden, 4, stride=4)  # 40 ms steps: style is slow
        self.convs = nn.Sequential(ConvBlock(hidden, 5, dropout), ConvBlock(hidden, 5, dropout))
        self.score = nn.Linear(hidden, 1)

    def forward(self, frames: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:  # mask True = valid
        h = self.convs(self.inp(frames.transpose(1, 2)).transpose(1, 2))
        mask = mask[:, : h.shape[1] * 4 : 4]
        w = self.score(h).squeeze(-1).masked_fill(~mask, -1e4).softmax(-1)
        return torch.einsum("bt,btc->bc", w, h)


class FramesAttendGraph(nn.Module):
    def __init__(self, hidden: int, heads: int, dropout: float):
        super().__init__()
        self.attn = nn.MultiheadAttention(hidden, heads, dropout=dropout, batch_first=True)
        self.norm = nn.LayerNorm(hidden)

    def forward(self, frames: torch.Tensor, nodes: torch.Tensor) -> torch.Tensor:
        out, _ = self.attn(frames, nodes, nodes, need_weights=False)
        return self.norm(frames + out)


@dataclass
class Encoded:
    """The whole line up to the decoder: what streaming decodes chunk by chunk."""

    content: torch.Tensor  # (B, T_acoustic, H), the decoder's input
    style: torch.Tensor  # (B, H)
    attention: torch.Tensor  # (B, T_video, N) text-to-lip attention
    durations: torch.Tensor  # (B, N) acoustic frames each token took (the alignment used)
    log_durations: torch.Tensor  # (B, N) predicted log(1 + acoustic frames) per token
    emotion_logits: torch.Tensor  # (B, num_emotions)
    phoneme_logits: torch.Tensor  # (B, T_video, vocab) for the CTC loss that keeps content phonetic
    # added to every refined frame at dubbing time (the actor's timbre adaptation); None: nothing added
    frame_shift: torch.Tensor | None = None  # (acoustic_dim,)


# the batch keys ``encode`` takes, in its order (``forward`` and the benchmarks pass them from a batch)
ENCODE_INPUTS: tuple[str, ...] = (
    "phonemes", "lips", "video_mask", "dvector", "reference", "reference_mask", "guidance", "target_nodes",
    "retrieved_nodes", "audio_nodes",
)  # fmt: skip


class ProgressiveGraphGenerator(nn.Module):
    def __init__(self, hp: ActorHParams):
        super().__init__()
        self.hp = hp
        h, d = hp.hidden, hp.dropout
        self.phoneme_embedding = nn.Embedding(hp.vocab_size, h, padding_idx=0)
        layer = nn.TransformerEncoderLayer(h, hp.heads, 2 * h, d, batch_first=True, norm_first=True)
        self.phoneme_encoder = nn.TransformerEncoder(layer, hp.phoneme_layers, enable_nested_tensor=False)
        self.lip_in = nn.Linear(2 * hp.lip_dim, h)  # lip features and their frame-to-frame change
        self.lip_encoder = nn.Sequential(ConvBlock(h, 5, d), ConvBlock(h, 5, d))
        self.text_lip = nn.MultiheadAttention(h, 1, batch_first=True)  # one head: one alignment to supervise
        self.content_norm = nn.LayerNorm(h)
        # Each video frame's content must say which phoneme is being spoken there: a CTC loss over the
        # frames (blank = padding id 0) teaches that far faster than the acoustic loss alone.
        self.phoneme_head = nn.Linear(h, hp.vocab_size)
        self.duration = nn.Sequential(ConvBlock(h, 3, d), ConvBlock(h, 3, d), nn.Linear(h, 1))
        self.speaker = nn.Linear(hp.dvector_dim, h)
        self.style_encoder = StyleEncoder(hp.acoustic_dim, h, d)
        self.guidance = nn.Linear(GUIDANCE_DIM, h)
        self.graph_style = nn.Linear(2 * h, h) if hp.graph_style else None
        self.nodes = EmotionNodes(hp.caption_dim, hp.audio_emotion_dim, h)
        self.graphs = nn.ModuleList(RelationalGraphAttention(h, hp.heads, d) for _ in range(hp.stages))
        self.progressive = nn.ModuleList(FramesAttendGraph(h, hp.heads, d) for _ in range(hp.stages))
        self.emotion_head = nn.Sequential(nn.Linear(2 * h, h), nn.GELU(), nn.Linear(h, hp.num_emotions))
        # acoustic-rate input: the aligned phoneme state, its place in the phoneme (relative position,
        # log length) and the video frame's content (lips, emotion graphs)
        self.position = nn.Linear(2, h)
        self.video_to_frames = nn.Linear(h, h)
        self.frame_norm = nn.LayerNorm(h)
        self.decoder = nn.ModuleList(ConvBlock(h, hp.decoder_kernel, d) for _ in range(hp.decoder_layers))
        self.decoder_norms = nn.ModuleList(StyleAdaptiveLayerNorm(h, h) for _ in range(hp.decoder_layers))
        self.out = nn.Linear(h, hp.acoustic_dim)
        pc = hp.postnet_channels
        self.postnet = nn.Sequential(
            *[
                nn.Sequential(nn.Conv1d(hp.acoustic_dim if i == 0 else pc, pc, 5, padding=2), nn.Tanh())
                for i in range(hp.postnet_layers - 1)
            ],
            nn.Conv1d(pc, hp.acoustic_dim, 5, padding=2),
        )
        self.speaker_head = nn.Linear(h, hp.dvector_dim)

    @property
    def decoder_context(self) -> int:
        """Acoustic frames either side that one output frame depends on (decoder plus postnet)."""
        hp = self.hp
        return hp.decoder_layers * (hp.decoder_kernel // 2) + hp.postnet_layers * 2

    # -- encoder: everything that needs the whole line ---------------------------------------------------
    def encode(
        self,
        phonemes: torch.Tensor,  # (B, N) ids, 0 = padding
        lips: torch.Tensor,  # (B, T_video, lip_dim)
        video_mask: torch.Tensor,  # (B, T_video) True = valid frame
        dvector: torch.Tensor,  # (B, 256)
        reference: torch.Tensor,  # (B, T_ref, acoustic_dim) the voice prompt's frames (normalised)
        reference_mask: torch.Tensor,  # (B, T_ref)
        guidance: torch.Tensor,  # (B, GUIDANCE_DIM)
        target_nodes: torch.Tensor,  # (B, 3, caption_dim)
        retrieved_nodes: torch.Tensor,  # (B, 3, K, caption_dim)
        audio_nodes: torch.Tensor,  # (B, 3, K, audio_emotion_dim)
        durations: torch.Tensor | None = None,  # (B, N) acoustic frames per token; None: from the attention
        can_skip: torch.Tensor | None = None,  # (B, N) tokens that may take no frames (for the search)
        min_frames: int = 1,  # the search: frames a token that may not be skipped takes at least
        prior_weight: float = 0.0,  # the search: pull towards the duration predictor (alignment_from_attention)
    ) -> Encoded:
        hp = self.hp
        p, phon_mask, log_durations = self.encode_phonemes(phonemes)

        delta = torch.diff(lips, dim=1, prepend=lips[:, :1])
        v = self.lip_in(torch.cat([lips, delta], -1)) + sinusoid(lips.shape[1], hp.hidden, lips.device)
        v = self.lip_encoder(v)
        aligned, attention = self.text_lip(v, p, p, key_padding_mask=~phon_mask)
        content = self.content_norm(v + aligned)
        phoneme_logits = self.phoneme_head(content)

        k = retrieved_nodes.shape[2] if hp.k > 0 else 0
        nodes = self.nodes(target_nodes, retrieved_nodes[:, :, :k], audio_nodes[:, :, :k])
        for stage, (graph, attend) in enumerate(zip(self.graphs, self.progressive, strict=True), start=1):
            n = num_nodes(k, stage)
            graph_out = graph(nodes[:, :n], k, stage)
            content = attend(content, graph_out)
        pooled_frames = (content * video_mask[..., None]).sum(1) / video_mask.sum(1, keepdim=True).clamp(
            min=1
        )
        emotion_summary = torch.cat([pooled_frames, graph_out.mean(1)], -1)
        emotion_logits = self.emotion_head(emotion_summary)

        style = self.speaker(dvector) + self.style_encoder(reference, reference_mask)
        if hp.use_guidance:
            style = style + self.guidance(guidance)
        if self.graph_style is not None:
            style = style + self.graph_style(emotion_summary)

        t_acoustic = lips.shape[1] * hp.frames_per_video_frame
        if durations is None:
            durations = alignment_from_attention(
                attention, video_mask, phon_mask, can_skip, hp, log_durations, min_frames, prior_weight
            )
        frames = self.expand(p, durations, t_acoustic)
        frames = frames + self.video_to_frames(content).repeat_interleave(hp.frames_per_video_frame, dim=1)
        return Encoded(
            self.frame_norm(frames),
            style,
            attention,
            durations,
            log_durations,
            emotion_logits,
            phoneme_logits,
        )

    def expand(self, p: torch.Tensor, durations: torch.Tensor, t_acoustic: int) -> torch.Tensor:
        """Phoneme states (B, N, H) repeated over their frames, plus each frame's place in its phoneme."""
        b, n, h = p.shape
        index = token_of_frame(durations, t_acoustic)
        frame = torch.arange(t_acoustic, device=p.device).expand(b, t_acoustic)
        start = (durations.cumsum(1) - durations).gather(1, index)
        length = durations.gather(1, index).clamp(min=1).float()
        place = torch.stack([(frame - start + 0.5) / length, torch.log1p(length) / 4.0], -1)
        return p.gather(1, index[..., None].expand(b, t_acoustic, h)) + self.position(place)

    def encode_phonemes(self, phonemes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(B, N) ids -> phoneme states (B, N, H), the valid mask, and predicted log acoustic frames each."""
        mask = phonemes != 0
        p = self.phoneme_embedding(phonemes) + sinusoid(phonemes.shape[1], self.hp.hidden, phonemes.device)
        p = self.phoneme_encoder(p, src_key_padding_mask=~mask)
        return p, mask, self.duration(p).squeeze(-1).masked_fill(~mask, 0.0)

    # -- decoder: local, so it can run in chunks -----------------------------------------------------------
    def decode(self, content: torch.Tensor, style: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T, H) acoustic-rate content -> (coarse, refined) acoustic frames (B, T, acoustic_dim)."""
        coarse, refined, _ = self._decode(content, style)
        return coarse, refined

    def _decode(self, content: torch.Tensor, style: torch.Tensor):
        x = content
        for block, norm in zip(self.decoder, self.decoder_norms, strict=True):
            x = norm(x + block(x), style)
        coarse = self.out(x)
        refined = coarse + self.postnet(coarse.transpose(1, 2)).transpose(1, 2)
        return coarse, refined, x

    def decode_chunk(self, content: torch.Tensor, style: torch.Tensor, start: int, end: int) -> torch.Tensor:
        """Refined acoustic frames of video frames ``[start, end)``, decoded with enough context either
        side to equal whole-line decoding."""
        r = self.hp.frames_per_video_frame
        start, end = start * r, end * r
        c = self.decoder_context
        lo, hi = max(0, start - c), min(content.shape[1], end + c)
        _, refined = self.decode(content[:, lo:hi], style)
        return refined[:, start - lo : end - lo]

    def forward(self, batch: dict) -> dict:
        enc = self.encode(*(batch[k] for k in ENCODE_INPUTS), durations=batch.get("durations"))
        coarse, refined, x = self._decode(enc.content, enc.style)
        mask = batch["acoustic_mask"]
        pooled = (x * mask[..., None]).sum(1) / mask.sum(1, keepdim=True).clamp(min=1)
        return {
            "coarse": coarse,
            "refined": refined,
            "attention": enc.attention,
            "log_durations": enc.log_durations,
            "emotion_logits": enc.emotion_logits,
            "phoneme_logits": enc.phoneme_logits,
            "speaker": self.speaker_head(pooled),
        }


def token_of_frame(durations: torch.Tensor, t_acoustic: int) -> torch.Tensor:
    """(B, T) index of the token each acoustic frame belongs to under ``durations`` (B, N); frames past
    the last token's end belong to it."""
    b, n = durations.shape
    frame = torch.arange(t_acoustic, device=durations.device).expand(b, t_acoustic).contiguous()
    return torch.searchsorted(durations.cumsum(1), frame, right=True).clamp(max=n - 1)


def attention_target(
    durations: torch.Tensor, num_video_frames: int, frames_per_video_frame: int
) -> torch.Tensor:
    """(B, T_video, N): the share of each video frame's acoustic frames that each token takes."""
    b, n = durations.shape
    one_hot = F.one_hot(token_of_frame(durations, num_video_frames * frames_per_video_frame), n).float()
    return one_hot.view(b, num_video_frames, frames_per_video_frame, n).mean(2)


def alignment_loss(attention: torch.Tensor, target: torch.Tensor, video_mask: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the text-to-lip attention against the timing targets, per valid video frame."""
    ce = -(target * torch.log(attention.clamp(min=1e-6))).sum(-1)
    return (ce * video_mask).sum() / video_mask.sum().clamp(min=1)


@torch.no_grad()
def alignment_from_attention(
    attention: torch.Tensor,
    video_mask: torch.Tensor,
    phon_mask: torch.Tensor,
    can_skip: torch.Tensor | None,
    hp: ActorHParams,
    log_durations: torch.Tensor | None = None,
    min_frames: int = 1,
    prior_weight: float = 0.0,
) -> torch.Tensor:
    """Frames per token from the best monotonic path through the attention (upsampled to acoustic
    frames), one line at a time; padding tokens get none, padded frames go to the last token. With
    ``prior_weight`` and ``log_durations``, a second search adds the duration predictor's band
    (``actors.alignment.duration_prior``), which keeps a smeared attention from dropping phonemes."""
    from actors.alignment import duration_prior, monotonic_alignment

    r = hp.frames_per_video_frame
    b, t_video, n = attention.shape
    probs = F.interpolate(attention.transpose(1, 2), scale_factor=r, mode="linear", align_corners=False)
    log_probs = torch.log(probs.transpose(1, 2).clamp(min=1e-6)).cpu().numpy()
    out = torch.zeros(b, n, dtype=torch.long)
    for i in range(b):
        tv, nv = int(video_mask[i].sum()), int(phon_mask[i].sum())
        skip = (can_skip[i, :nv] if can_skip is not None else torch.zeros(nv, dtype=torch.bool)).numpy()
        lp = log_probs[i, : tv * r, :nv]
        d = monotonic_alignment(lp, skip, min_frames)
        if prior_weight > 0 and log_durations is not None:
            predicted = torch.expm1(log_durations[i, :nv]).clamp(min=0).cpu().numpy()
            d = monotonic_alignment(lp + prior_weight * duration_prior(d, predicted, skip), skip, min_frames)
        out[i, :nv] = torch.from_numpy(d)
        out[i, nv - 1] += t_video * r - tv * r
    return out.to(attention.device)


def durations_from_predictions(
    log_durations: torch.Tensor, phon_mask: torch.Tensor, t_acoustic: int
) -> torch.Tensor:
    """(B, N) integer frames per token: the duration predictor's frames rescaled to fill ``t_acoustic``."""
    dur = torch.expm1(log_durations).clamp(min=0).masked_fill(~phon_mask, 0.0)
    ends = torch.cumsum(dur, 1) / dur.sum(1, keepdim=True).clamp(min=1e-6) * t_acoustic
    bounds = torch.round(ends).long()
    bounds[:, -1] = t_acoustic
    bounds = torch.cummax(bounds, 1).values
    return torch.diff(bounds, dim=1, prepend=torch.zeros_like(bounds[:, :1]))


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
