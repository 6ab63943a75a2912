"""The emotion graphs G1, G2, G3 of DESIGN section 4, and relation-aware graph attention over them.

Nodes of one line (K references per modality):
    0..2                    the target's scene, face and text emotion vectors
    3 + m*K + k             the k-th clip retrieved for modality m (its vector of that modality)
    3 + 3K + m*K + k        the audio emotion vector of that retrieved clip
Edges (both directions, no self-loops), typed by relation:
    G1: the three target nodes fully linked (relation 0)
    G2: G1 + each retrieved node linked to its modality's target node (relation 1)
    G3: G2 + each audio node linked to the retrieved node it came with (relation 2)
so 3 / 12 / 21 nodes at K=3. Every line of a batch has the same topology for a given K, so a batch is one
disjoint union (PyG's convention: node indices offset per graph).
"""

from __future__ import annotations

from functools import lru_cache

import torch
from torch import nn
from torch_geometric.nn import MessagePassing
from torch_geometric.utils import softmax

MODALITIES: tuple[str, ...] = ("scene", "face", "text")
NUM_RELATIONS = 3


def num_nodes(k: int, stage: int) -> int:
    return 3 + (3 * k if stage >= 2 else 0) + (3 * k if stage >= 3 else 0)


@lru_cache(maxsize=32)
def graph_edges(k: int, stage: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``edge_index`` (2, E) and ``edge_type`` (E,) of one line's graph G<stage>."""
    src, dst, rel = [], [], []

    def link(a: int, b: int, r: int) -> None:
        src.extend((a, b))
        dst.extend((b, a))
        rel.extend((r, r))

    for a in range(3):
        for b in range(a + 1, 3):
            link(a, b, 0)
    if stage >= 2:
        for m in range(3):
            for j in range(k):
                link(m, 3 + m * k + j, 1)
    if stage >= 3:
        for m in range(3):
            for j in range(k):
                link(3 + m * k + j, 3 + 3 * k + m * k + j, 2)
    return torch.tensor([src, dst], dtype=torch.long), torch.tensor(rel, dtype=torch.long)


def batched_edges(k: int, stage: int, batch: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    edge_index, edge_type = graph_edges(k, stage)
    n = num_nodes(k, stage)
    offsets = (torch.arange(batch) * n).repeat_interleave(edge_index.shape[1])
    edge_index = edge_index.repeat(1, batch) + offsets
    return edge_index.to(device), edge_type.repeat(batch).to(device)


class EmotionNodes(nn.Module):
    """Projects the target, retrieved and audio emotion vectors to ``hidden``-d nodes (B, N, hidden)."""

    def __init__(self, caption_dim: int, audio_dim: int, hidden: int):
        super().__init__()
        # one projection per modality, shared by the target and its references so that similar captions
        # land close; a learned role embedding tells them apart
        self.modality = nn.ModuleList(nn.Linear(caption_dim, hidden) for _ in MODALITIES)
        self.audio = nn.Linear(audio_dim, hidden)
        self.role = nn.Embedding(3, hidden)  # target, retrieved, audio
        self.modality_embedding = nn.Embedding(3, hidden)

    def forward(self, target: torch.Tensor, retrieved: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        """target (B, 3, C); retrieved (B, 3, K, C); audio (B, 3, K, A) -> (B, 3 + 6K, hidden)."""
        b, _, k = retrieved.shape[:3]
        m_emb = self.modality_embedding.weight  # (3, H)
        t = torch.stack([self.modality[m](target[:, m]) for m in range(3)], 1) + m_emb + self.role.weight[0]
        nodes = [t]
        if k > 0:
            r = torch.stack([self.modality[m](retrieved[:, m]) for m in range(3)], 1)  # (B, 3, K, H)
            r = r + m_emb[None, :, None] + self.role.weight[1]
            a = self.audio(audio) + m_emb[None, :, None] + self.role.weight[2]
            nodes += [r.reshape(b, 3 * k, -1), a.reshape(b, 3 * k, -1)]
        return torch.cat(nodes, 1)


class RelationalGraphAttentionConv(MessagePassing):
    """Relation-aware graph attention (RGAT-style): each relation has its own projection and attention
    vectors; a node attends over its in-edges of all relations together.

    PyG's ``RGATConv`` materialises one weight matrix per edge, which on a CPU made a training step
    several seconds; projecting every node once per relation and gathering per edge is the same maths.
    """

    def __init__(self, channels: int, num_relations: int, heads: int, dropout: float = 0.0):
        super().__init__(aggr="add", node_dim=0)
        self.relations, self.heads, self.head_dim = num_relations, heads, channels // heads
        self.lin = nn.Linear(channels, num_relations * channels, bias=False)
        self.att_src = nn.Parameter(torch.empty(num_relations, heads, self.head_dim))
        self.att_dst = nn.Parameter(torch.empty(num_relations, heads, self.head_dim))
        self.out = nn.Linear(channels, channels)
        self.dropout = dropout
        nn.init.xavier_uniform_(self.att_src)
        nn.init.xavier_uniform_(self.att_dst)

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor, edge_type: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        projected = self.lin(x).view(n, self.relations, self.heads, self.head_dim)
        out = self.propagate(edge_index, projected=projected, edge_type=edge_type, size=(n, n))
        return self.out(out.reshape(n, -1))

    def message(self, projected_j, projected_i, edge_type, index, ptr, size_i):
        rows = torch.arange(edge_type.shape[0], device=edge_type.device)
        x_j = projected_j[
            rows, edge_type
        ]  # (E, heads, head_dim): the source seen through the edge's relation
        x_i = projected_i[rows, edge_type]
        score = (x_j * self.att_src[edge_type]).sum(-1) + (x_i * self.att_dst[edge_type]).sum(-1)
        alpha = softmax(nn.functional.leaky_relu(score, 0.2), index, ptr, size_i)
        alpha = nn.functional.dropout(alpha, self.dropout, self.training)
        return x_j * alpha.unsqueeze(-1)


class RelationalGraphAttention(nn.Module):
    """Two rounds of relation-aware graph attention with residuals; nodes without in-edges keep their input
    (no self-loops, as in the design)."""

    def __init__(self, hidden: int, heads: int, dropout: float = 0.1):
        super().__init__()
        self.convs = nn.ModuleList(
            RelationalGraphAttentionConv(hidden, NUM_RELATIONS, heads, dropout) for _ in range(2)
        )
        self.norms = nn.ModuleList(nn.LayerNorm(hidden) for _ in range(2))

    def forward(self, nodes: torch.Tensor, k: int, stage: int) -> torch.Tensor:
        b, n, h = nodes.shape
        edge_index, edge_type = batched_edges(k, stage, b, nodes.device)
        x = nodes.reshape(b * n, h)
        for conv, norm in zip(self.convs, self.norms, strict=True):
            x = norm(x + torch.relu(conv(x, edge_index, edge_type)))
        return x.reshape(b, n, h)
