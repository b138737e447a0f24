"""The timbre networks run block by block, with cached context.

Each convolution keeps the last ``(kernel_size - 1) * dilation`` frames of
its input (zeros before the first, which is the zero padding an offline
convolution adds at a clip's start), so a block of new frames gives as many
output frames, computed from exactly the inputs an offline pass reads. A
centred convolution's output then lags its input by half its reach: the
first outputs belong to frames before the clip, and are dropped, so that the
next layer sees the offline sequence from frame 0. A residual branch is
held back by the same number of frames in a queue.

The scheme is that of cached-conv (Caillon & Esling 2021), written here for
the few layer kinds of :mod:`sktimbre._nn` and with an explicit drop of the
frames before the clip instead of a delayed, zero-filled start; every module
compiles with ``torch.jit.script``.
"""


import torch
from torch import nn
from torch.nn import functional as F

from ._nn import CausalConv1d

__all__ = ["FrameQueue", "StreamingConv", "StreamingEncoder", "StreamingDecoder"]


class FrameQueue(nn.Module):
    """Frames ``(1, channels, n)`` waiting for their partners in another
    branch of a network."""

    def __init__(self, channels: int):
        super().__init__()
        self.register_buffer("frames", torch.zeros(1, channels, 0))

    def push(self, frames: torch.Tensor) -> int:
        """Append ``frames`` and return how many are waiting."""
        self.frames = torch.cat([self.frames, frames.to(self.frames.dtype)], dim=-1)
        return int(self.frames.shape[-1])

    def pop(self, count: int) -> torch.Tensor:
        """The ``count`` oldest frames, removed from the queue."""
        head = self.frames[:, :, :count]
        self.frames = self.frames[:, :, count:]
        return head

    def size(self) -> int:
        return int(self.frames.shape[-1])

    def reset(self):
        self.frames = self.frames[:, :, :0]


class StreamingConv(nn.Module):
    """A stride-1 ``nn.Conv1d`` of a fitted network, one block of frames at
    a time; the weights are the network's own.

    Output frame ``t`` is the offline output at frame ``t``: the first
    ``lag`` frames computed lie before the clip and are not returned.

    The few frames of a block are convolved as one matrix product of the
    weights with the stacked taps: on the CPU, ``conv1d`` of a short dilated
    input takes a slow path that loops per element, and cost most of a
    block's time.
    """

    def __init__(self, conv: nn.Conv1d):
        super().__init__()
        self.weight = conv.weight
        self.bias = conv.bias
        self.dilation = int(conv.dilation[0])
        self.kernel_size = int(conv.kernel_size[0])
        self.reach = (self.kernel_size - 1) * self.dilation
        self.lag = 0 if isinstance(conv, CausalConv1d) else self.reach // 2
        self.to_drop = self.lag
        self.register_buffer(
            "cache", torch.zeros(1, conv.in_channels, self.reach,
                                 dtype=conv.weight.dtype, device=conv.weight.device))

    def reset(self):
        self.cache = torch.zeros_like(self.cache)
        self.to_drop = self.lag

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        if frames.shape[-1] == 0:
            return frames.new_zeros(1, self.weight.shape[0], 0)
        joined = torch.cat([self.cache, frames], dim=-1)
        self.cache = joined[:, :, joined.shape[-1] - self.reach:]
        count = frames.shape[-1]
        taps = torch.stack([joined[0, :, j * self.dilation:j * self.dilation + count]
                            for j in range(self.kernel_size)], dim=1)
        # (out, in * kernel) @ (in * kernel, T): the taps in the weights' order.
        out = self.weight.reshape(self.weight.shape[0], -1) @ taps.reshape(-1, count)
        if self.bias is not None:
            out = out + self.bias[:, None]
        out = out[None]
        drop = min(self.to_drop, out.shape[-1])
        self.to_drop -= drop
        return out[:, :, drop:]


class _StreamingResidual(nn.Module):
    """One layer of :class:`~sktimbre._nn.ConvStack`: ``h + norm(conv(gelu(h)))``,
    FiLM-modulated when given a scale and shift."""

    def __init__(self, conv: nn.Conv1d, norm: nn.Module):
        super().__init__()
        self.conv = StreamingConv(conv)
        self.norm = norm
        self.skip = FrameQueue(conv.in_channels)

    def reset(self):
        self.conv.reset()
        self.skip.reset()

    def forward(self, h: torch.Tensor, film: torch.Tensor | None) -> torch.Tensor:
        update = self.norm(self.conv(F.gelu(h)))
        if film is not None:
            update = update * (1 + film[0][..., None]) + film[1][..., None]
        self.skip.push(h)
        return self.skip.pop(update.shape[-1]) + update


class _StreamingStack(nn.Module):
    """:class:`~sktimbre._nn.ConvStack` block by block."""

    def __init__(self, stack: nn.Module):
        super().__init__()
        self.layers = nn.ModuleList(
            _StreamingResidual(conv, norm)
            for conv, norm in zip(stack.layers, stack.norms)
        )

    def reset(self):
        for layer in self.layers:
            layer.reset()

    def forward(self, h: torch.Tensor, film: torch.Tensor | None) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            h = layer(h, None if film is None else film[:, i])
        return h


class StreamingEncoder(nn.Module):
    """The posterior mean of a fitted :class:`~sktimbre._nn.ConvEncoder`,
    block by block: normalised spectrogram frames ``(1, n_freq, T)`` in,
    latent frames out, from frame 0 on."""

    def __init__(self, encoder: nn.Module):
        super().__init__()
        self.inp = StreamingConv(encoder.inp)
        self.body = _StreamingStack(encoder.body)
        self.out = StreamingConv(encoder.out)
        self.latent_dim = encoder.out.out_channels // 2

    def reset(self):
        self.inp.reset()
        self.body.reset()

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        h = self.body(self.inp(spec), None)
        if h.shape[-1] == 0:
            return h.new_zeros(1, self.latent_dim, 0)
        return self.out(F.gelu(h))[:, :self.latent_dim]


class StreamingDecoder(nn.Module):
    """A fitted :class:`~sktimbre._nn.FiLMDecoder` block by block, at the
    timbre whose FiLM parameters are ``film`` (see :meth:`film_of`)."""

    def __init__(self, decoder: nn.Module):
        super().__init__()
        self.inp = StreamingConv(decoder.inp)
        self.body = _StreamingStack(decoder.body)
        self.film = decoder.film
        self.out = StreamingConv(decoder.out)
        self.n_layers = decoder.n_layers
        self.hidden = decoder.hidden

    def reset(self):
        self.inp.reset()
        self.body.reset()

    def film_of(self, code: torch.Tensor) -> torch.Tensor:
        """FiLM scales and shifts ``(2, n_layers, hidden)`` of a timbre code,
        as :meth:`FiLMDecoder.forward` splits them (batch of one)."""
        film = self.film(code).reshape(-1, self.n_layers, 2, self.hidden)
        return film[0].transpose(0, 1)[:, :, None]

    def forward(self, inputs: torch.Tensor, film: torch.Tensor) -> torch.Tensor:
        h = self.body(self.inp(inputs), film)
        if h.shape[-1] == 0:
            return h.new_zeros(1, self.out.weight.shape[0], 0)
        return self.out(F.gelu(h))
