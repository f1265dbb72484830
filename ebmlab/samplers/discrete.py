"""Discrete kernels for energies over two values per site (``{-1, +1}`` spins, ``{0, 1}``
units): ``Gibbs``, ``MetropolisFlip``, ``Wolff`` and ``GibbsWithGradients``. Like every
kernel they are pure (``init``/``step``) and run by the one chain driver, the particle engine
(``ais``, ``SMC``) and parallel tempering.

What a kernel knows of the energy is *declared* by it (see ``ebmlab.energies.discrete``):
``values``, ``flip_delta(x, index)``, ``colouring()``, block conditionals
(``sample_hidden``/``sample_visible``), the lattice for cluster moves. Composite energies
— ``Tempered`` (``E/T``), ``Sum``, the annealing ``PathEnergy`` (``(1-β)E₀ + βE``) and
parallel tempering's ``Ladder`` (``β_r E``) — are linear combinations of their parts, and so
are their single-site energy differences: ``site_model`` expands any such combination (or an
energy's own ``linear_parts()``) into weighted leaves and combines their structure. The
geometric path between two energies with local fields therefore has the path's exact
conditionals, and AIS/SMC run Gibbs moves with no special case. Energies without structure
fall back to single-site updates from plain energy differences.

Steps and costs. A Gibbs or Metropolis step is one sweep: with ``scan="checkerboard"`` every
colour class in turn, all its sites updated in parallel (the energy's colouring; without one,
every site is its own class: a systematic scan); with ``scan="random"`` ``D`` single-site
updates at uniformly drawn sites (``sweep=False``: one update per step). ``Info.n_energy``
counts every batched call into the energy (an energy evaluation, the ``flip_delta`` of one
class or one site per chain, a block conditional), each covering every chain once; a step
that updates from ``flip_delta`` re-evaluates the energy once at the end (exact energies, and
the ``aux`` an annealing path needs).

States keep their dtype. A floating start that is not already made of the two values (the
driver's default ``N(0, 2² I)``) is mapped to states by its sign — uniformly random states,
knowing nothing of the target.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch

from ..energies.base import Energy
from ..energies.composition import Sum, Tempered
from ..energies.discrete import RBM
from ..params import Param
from .annealing import PathEnergy
from .kernel import Kernel, register
from .moves import metropolis
from .state import Info, State, evaluate
from .tempering import Ladder

Coef = float | torch.Tensor  # a number, or one per chain (N,)


# -- what a kernel knows of an energy ---------------------------------------------------------


def linear_parts(energy: Energy) -> list[tuple[Coef, Energy]] | None:
    """``[(c_k, E_k)]`` with ``E = Σ_k c_k E_k`` for composite energies, else ``None``.

    An energy may declare its own by a ``linear_parts()`` method; the core composites are
    known here: ``Tempered`` (``1/T``), ``Sum`` (1 each), ``PathEnergy`` (``1-β``, ``β``) and
    parallel tempering's ``Ladder`` (``β`` per row)."""
    own = getattr(energy, "linear_parts", None)
    if callable(own):
        return list(own())
    if isinstance(energy, PathEnergy):
        return [(1.0 - energy.beta, energy.base_energy), (energy.beta, energy.target)]
    if isinstance(energy, Tempered):
        return [(1.0 / energy.temperature, energy.base)]
    if isinstance(energy, Ladder):
        return [(energy.beta, energy.base)]
    if isinstance(energy, Sum):
        return [(1.0, t) for t in energy.terms]
    return None


def _leaves(energy: Energy, coef: Coef = 1.0) -> list[tuple[Coef, Energy]]:
    parts = linear_parts(energy)
    if parts is None:
        return [(coef, energy)]
    out: list[tuple[Coef, Energy]] = []
    for c, e in parts:
        if isinstance(c, torch.Tensor):
            c = c if c.is_floating_point() else c.double()
        out.extend(_leaves(e, c * coef if isinstance(c, torch.Tensor) else coef * c))
    return out


def _is_zero(c: Coef) -> bool:
    return not isinstance(c, torch.Tensor) and c == 0.0


def _scale(c: Coef, t: torch.Tensor) -> torch.Tensor:
    if isinstance(c, torch.Tensor):
        return c.to(t.dtype).reshape(-1, *([1] * (t.ndim - 1))) * t
    return t if c == 1.0 else c * t


@dataclass
class SiteModel:
    """What a discrete kernel knows of an energy (see ``site_model``).

    ``values``: the two states of a site (``None``: not declared); ``leaves``: the weighted
    parts; ``flip_delta``: ``(x, index) -> (N, k)`` when every leaf declares one;
    ``colouring``: ``(D,)`` classes of sites that do not interact; ``block``: an energy with
    exact block conditionals, when the energy is exactly that one; ``lattice``:
    ``(coefficient, Ising-like leaf)`` for cluster moves.
    """

    values: tuple[float, float] | None
    leaves: list[tuple[Coef, Energy]]
    flip_delta: Any
    colouring: torch.Tensor | None
    block: Energy | None
    lattice: tuple[Coef, Energy] | None
    _classes: dict = field(default_factory=dict, repr=False)

    def masks(self, dim: int, device: torch.device) -> list[torch.Tensor]:
        """The colour classes as boolean masks ``(D,)``."""
        key = ("masks", dim, str(device))
        out = self._classes.get(key)
        if out is None:
            out = self._classes[key] = [
                torch.zeros(dim, dtype=torch.bool, device=device).index_fill_(0, c, True)
                for c in self.classes(dim, device)]
        return out

    def classes(self, dim: int, device: torch.device) -> list[torch.Tensor]:
        """The colour classes as index tensors (singletons without a colouring)."""
        key = (dim, str(device))
        out = self._classes.get(key)
        if out is None:
            out = self._classes[key] = _classes(
                self.colouring if self.flip_delta is not None else None, dim, device)
        return out


def site_model(energy: Energy) -> SiteModel:
    """Expand ``energy`` into weighted leaves and combine what they declare (cached on the
    energy object, which lives and dies with it: energies are immutable in what they
    declare)."""
    model = energy.__dict__.get("_site_model")
    if model is None:
        model = _build_site_model(energy)
        object.__setattr__(energy, "_site_model", model)
    return model


def _build_site_model(energy: Energy) -> SiteModel:
    leaves = _leaves(energy)
    live = [(c, e) for c, e in leaves if not _is_zero(c)] or leaves
    vals = {tuple(float(v) for v in e.values) for _, e in leaves
            if getattr(e, "values", None) is not None}
    if len(vals) > 1:
        raise ValueError(f"the parts of {type(energy).__name__} declare different site values "
                         f"{sorted(vals)}")
    values = vals.pop() if vals else None
    fd = None
    if all(callable(getattr(e, "flip_delta", None)) for _, e in live):
        if len(live) == 1 and _is_one(live[0][0]):
            fd = live[0][1].flip_delta
        else:
            fd = _CombinedDelta(live)
    colouring = _combine_colourings(live, energy.dim) if fd is not None else None
    block = None
    if (len(live) == 1 and _is_one(live[0][0])
            and callable(getattr(live[0][1], "sample_hidden", None))
            and callable(getattr(live[0][1], "sample_visible", None))):
        block = live[0][1]
    lattice = None
    if len(live) == 1 and all(hasattr(live[0][1], a) for a in ("neighbour_table", "J", "h")):
        lattice = live[0]
    return SiteModel(values, leaves, fd, colouring, block, lattice)


class _CombinedDelta:
    """``Σ_k c_k ΔE_k``: the flip deltas of a linear combination of energies."""

    def __init__(self, live: list[tuple[Coef, Energy]]) -> None:
        self.live = live

    def __call__(self, x: torch.Tensor, index: torch.Tensor | None) -> torch.Tensor:
        out = None
        for c, e in self.live:
            d = _scale(c, e.flip_delta(x, index))
            out = d if out is None else out + d
        return out


def _is_one(c: Coef) -> bool:
    return not isinstance(c, torch.Tensor) and c == 1.0


def _combine_colourings(live: list[tuple[Coef, Energy]], dim: int) -> torch.Tensor | None:
    """A colouring valid for the sum of the leaves: leaves whose sites all interact with
    nothing (one colour) impose nothing; the others must agree, else every site is its own
    class (``None``: a systematic scan)."""
    cols = []
    for _, e in live:
        fn = getattr(e, "colouring", None)
        col = fn() if callable(fn) else None
        if col is None:
            return None
        if int(col.max()) > 0:
            cols.append(col)
    if not cols:
        ref = live[0][1]
        return torch.zeros(dim, dtype=torch.long, device=_device_of(ref))
    first = cols[0]
    if all(c.shape == first.shape and torch.equal(c, first) for c in cols[1:]):
        return first
    return None


def _device_of(energy: Energy) -> torch.device:
    for t in list(energy.buffers()) + list(energy.parameters()):
        return t.device
    return torch.device("cpu")


def _classes(colouring: torch.Tensor | None, dim: int, device) -> list[torch.Tensor]:
    if colouring is None:
        return [torch.tensor([i], device=device) for i in range(dim)]
    colouring = colouring.to(device)
    return [torch.nonzero(colouring == c).squeeze(1) for c in torch.unique(colouring)]


# -- shared pieces ------------------------------------------------------------------------------

_MASKED_CLASSES = 4  # up to this many colours, update whole-lattice tensors under a mask
_SCAN = Param("scan", "checkerboard", choices=("checkerboard", "random"),
              doc="checkerboard: colour classes in parallel (or a systematic scan); random: "
                  "uniformly drawn sites")
_SWEEP = Param("sweep", True, doc="a step is D single-site updates (else one); random scan")


def _flip(x: torch.Tensor, values: tuple[float, float]) -> torch.Tensor:
    """The other value of every entry, in ``x``'s dtype."""
    return ((values[0] + values[1]) - x).to(x.dtype)


class _DiscreteKernel(Kernel):
    """Shared ``init``: site values from the energy (or ``values=``), a continuous start
    mapped by its sign, entries checked once."""

    uses_grad = False
    float_state = False

    def __init__(self, values: tuple[float, float] | None = None, **hyper: Any) -> None:
        super().__init__(**hyper)
        if values is not None:
            a, b = (float(v) for v in values)
            if a == b or not (math.isfinite(a) and math.isfinite(b)):
                raise ValueError(f"values must be two different finite numbers, got {values}")
            values = (a, b)
        self.values = values

    def _values(self, model: SiteModel, energy: Energy) -> tuple[float, float]:
        v = model.values or self.values
        if v is None:
            raise ValueError(f"{type(self).__name__} needs the two values of a site: "
                             f"{type(energy).__name__} declares no `values`; pass values=(-1, 1) "
                             "or values=(0, 1) to the kernel")
        return v

    def prepare(self, energy: Energy, x: torch.Tensor) -> torch.Tensor:
        """The start as valid states (see the module docstring), or ``ValueError``."""
        x = self.check_input(energy, x)
        a, b = self._values(site_model(energy), energy)
        ok = (x == a) | (x == b)
        if bool(ok.all()):
            return x
        if x.is_floating_point():
            return torch.where(x > 0, b, a).to(x.dtype)
        raise ValueError(f"x0 must have entries in {{{a:g}, {b:g}}} for {type(energy).__name__}"
                         f", got {torch.unique(x[~ok])[:5].tolist()}")

    def init(self, energy: Energy, x: torch.Tensor, gen: torch.Generator) -> State:
        x = self.prepare(energy, x)
        with torch.no_grad():
            e, g, aux = evaluate(energy, x, self.uses_grad)
        if not bool(torch.isfinite(e).all()):
            raise ValueError("x0 has non-finite energy; start inside the support of the energy")
        return State(x=x, energy=e, grad=g, aux=aux)


def _uniform(shape, like: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    return torch.rand(shape, generator=gen, dtype=like.dtype, device=like.device)


def _lattice_fast_path(model: SiteModel, energy: Energy, x: torch.Tensor):
    """``(coefficient, Ising)`` when a checkerboard sweep can run on the lattice directly: a
    single Ising leaf (``E = c · Ising``, e.g. tempered or a tempering ladder's rung) with even
    ``L`` (two colours), ±1 spins and no per-chain ``aux`` to carry; else ``None``."""
    if model.lattice is None or getattr(type(energy), "value_aux", None) is not None:
        return None
    coef, ising = model.lattice
    if type(ising).__name__ != "Ising" or ising.L % 2 or tuple(ising.values) != (-1.0, 1.0):
        return None
    if x.device != ising.coupling.device:
        return None
    return coef, ising


def _ising_sweep(model: SiteModel, coef, ising, state: State, gen: torch.Generator,
                 gibbs: bool) -> tuple[State, Info]:
    """One checkerboard sweep of ``E = c · Ising`` on ``(N, L, L)`` spins: local fields by
    rolls, ``ΔE_i = 2c s_i (J nb_i + h)``, heat bath (``gibbs``) or Metropolis decisions from
    one uniform per site per sweep. The energy of the new state comes from the last colour's
    neighbour sums (every bond has exactly one end of that colour, and its neighbours did not
    change during its update): ``E = c (-J Σ_{i∈C₁} s_i nb_i - h Σ s_i)`` — no further
    evaluation. Costs two local-field evaluations (``n_energy = 2``)."""
    x = state.x
    n, L = x.shape[0], ising.L
    dt = ising.coupling.dtype
    s = x.to(dt).view(n, L, L)
    J, h = ising.J, ising.h
    c = coef.to(dt).reshape(n, 1, 1) if isinstance(coef, torch.Tensor) else float(coef)
    masks = model._classes.get("lattice-masks")
    if masks is None:
        colour = ising.colouring().view(L, L)
        masks = model._classes["lattice-masks"] = (colour == 0, colour == 1)
    u = _uniform(s.shape, s, gen)
    if not gibbs:
        u = u.log_()
    acc = None
    nb = None
    for mask in masks:
        nb = s.roll(1, 1) + s.roll(-1, 1)
        nb += s.roll(1, 2)
        nb += s.roll(-1, 2)
        if h == 0.0:
            delta = s * nb * (2.0 * J * c) if not isinstance(c, torch.Tensor) \
                else (s * nb) * (2.0 * J * c)
        else:
            delta = s * (nb * J + h) * (2.0 * c)
        if gibbs:  # flip with σ(-ΔE): iff σ(ΔE) < u' with u' = 1 - u ~ U(0, 1)
            flip = torch.sigmoid(delta) < u
        else:
            log_a = delta.neg_().clamp_(max=0.0)
            flip = u < log_a
            a = (log_a.exp_() * mask).sum((1, 2)) / mask.sum()
            acc = a if acc is None else acc + a
        s = torch.where(flip.logical_and_(mask), -s, s)
    bonds = (s * nb * masks[1]).sum((1, 2))
    e = -J * bonds if h == 0.0 else -J * bonds - h * s.sum((1, 2))
    e = e * (c.view(n) if isinstance(c, torch.Tensor) else c)
    x_new = s.view(n, -1).to(x.dtype)
    acc = torch.ones_like(e) if acc is None else (acc / 2).to(e.dtype)
    return state.replace(x=x_new, energy=e, aux=None), Info(accept_prob=acc, n_energy=2)


def _site_sweep(kernel, energy: Energy, state: State, gen: torch.Generator, rule: str
                ) -> tuple[State, Info]:
    """One Gibbs (``rule="gibbs"``: heat bath, flip with ``σ(-ΔE)``) or Metropolis
    (``"metropolis"``: flip with ``min(1, e^{-ΔE})``) step of single-site updates. A
    non-finite ``ΔE`` is never a flip (a forbidden state)."""
    model = site_model(energy)
    values = kernel._values(model, energy)
    x, n, d = state.x, state.x.shape[0], state.x.shape[1]
    dev = x.device
    gibbs = rule == "gibbs"
    if kernel.scan == "checkerboard":
        fast = _lattice_fast_path(model, energy, x)
        if fast is not None:
            return _ising_sweep(model, *fast, state, gen, gibbs)
    masks = None
    sites: list[torch.Tensor] = []
    if kernel.scan == "checkerboard":
        classes = model.classes(d, dev)
        if model.colouring is not None and len(classes) <= _MASKED_CLASSES:
            masks = model.masks(d, dev)
        else:
            sites = [c[None, :].expand(n, -1) for c in classes]
    else:
        count = d if kernel.sweep else 1
        sites = list(torch.randint(d, (count, n, 1), generator=gen, device=dev))
    # Flip deltas pay off only when a step makes more than one update.
    use_structure = model.flip_delta is not None and (
        kernel.scan == "checkerboard" or len(sites) > 1)
    e, aux = state.energy, state.aux
    acc = None

    def decide(delta: torch.Tensor, u: torch.Tensor | None = None) -> torch.Tensor:
        """Which proposed flips happen; adds Metropolis acceptance probabilities to ``acc``.
        ``u``: uniforms for the decisions (Gibbs) or their logarithms (Metropolis); drawn
        here when not given."""
        nonlocal acc
        if u is None:
            u = _uniform(delta.shape, delta, gen)
            if not gibbs:
                u = u.log_()
        if gibbs:  # flip with σ(-ΔE) = 1 - σ(ΔE): iff σ(ΔE) < u' with u' = 1 - u ~ U(0, 1)
            return torch.sigmoid(delta) < u
        log_a = torch.nan_to_num(-delta, nan=-math.inf).clamp_(max=0.0)
        flip = u < log_a
        a = log_a.exp_()
        a = a.mean(1) if mask is None else (a * mask).sum(1) / mask.sum()
        acc = a if acc is None else acc + a
        return flip

    mask = None
    if masks is not None:
        # A few colours (a checkerboard): ΔE at every site, updates masked to one colour —
        # whole-lattice tensor operations, no gathers or scatters. Every site is updated once
        # per sweep, by its own colour's update, so one uniform per site serves the whole
        # sweep (half the random numbers of one draw per colour; the RNG is the largest
        # single cost of a sweep).
        u_sweep = None
        for mask in masks:
            delta = model.flip_delta(x, None)
            if u_sweep is None:
                u_sweep = _uniform(delta.shape, delta, gen)
                if not gibbs:
                    u_sweep = u_sweep.log_()
            flip = decide(delta, u_sweep).logical_and_(mask)
            x = torch.where(flip, _flip(x, values), x)
        n_updates = len(masks)
    else:
        x = x.clone()
        for idx in sites:
            if use_structure:
                flip = decide(model.flip_delta(x, idx))  # (N, k)
                cur = x.gather(1, idx)
                x.scatter_(1, idx, torch.where(flip, _flip(cur, values), cur))
            else:  # one site per chain, from a plain energy difference
                y = x.clone()
                y.scatter_(1, idx, _flip(y.gather(1, idx), values))
                e_y, _, aux_y = evaluate(energy, y, grad=False)
                flip = decide((e_y - e)[:, None])[:, 0]
                x = torch.where(flip[:, None], y, x)
                e = torch.where(flip, e_y, e)
                if aux is not None:
                    aux = tuple(torch.where(flip, v, w) for w, v in zip(aux, aux_y, strict=True))
        n_updates = len(sites)
    n_calls = n_updates
    if use_structure:
        e, _, aux = evaluate(energy, x, grad=False)
        n_calls += 1
    acc = torch.ones_like(e) if acc is None else (acc / n_updates).to(e.dtype)
    return state.replace(x=x, energy=e, aux=aux), Info(accept_prob=acc, n_energy=n_calls)


# -- the kernels ------------------------------------------------------------------------------


@register
class Gibbs(_DiscreteKernel):
    """Gibbs sampling: every update draws a site (or a block) from its exact conditional.

    - Block Gibbs when the energy is a latent-variable model's free energy with block
      conditionals (the RBM): ``h ~ p(h | v)``, then ``v ~ p(v | h)``; the state is ``v``.
      A step costs three calls: two conditionals and the free energy of the new ``v``.
    - Otherwise single-site heat-bath updates, ``P(flip i) = σ(-(E(x^{(i)}) - E(x)))``:
      ``scan="checkerboard"`` updates each colour class in parallel (the Ising checkerboard;
      a systematic scan without a colouring), ``scan="random"`` updates uniformly drawn
      sites. ``ΔE`` comes from the energy's ``flip_delta`` (local fields), or from plain
      energy differences.

    ``accept_prob`` is 1 (a Gibbs update is always accepted). ``block=False`` forces
    single-site updates on an RBM.
    """

    name = "gibbs"
    params = (_SCAN, _SWEEP,
              Param("block", True, doc="use the energy's block conditionals when it has them"))

    def step(self, energy: Energy, state: State, gen: torch.Generator) -> tuple[State, Info]:
        model = site_model(energy) if self.block else None
        if model is not None and model.block is not None:
            rbm = model.block
            if energy is rbm and type(rbm) is RBM:
                return _rbm_block_step(rbm, state, gen)
            h = rbm.sample_hidden(state.x, gen)
            v = rbm.sample_visible(h, gen)
            e, _, aux = evaluate(energy, v, grad=False)
            info = Info(accept_prob=torch.ones_like(e), n_energy=3)
            return state.replace(x=v, energy=e, aux=aux), info
        return _site_sweep(self, energy, state, gen, "gibbs")


class _HiddenInput(tuple):
    """``(b_h + vᵀW,)`` for the state's ``v``: the RBM's hidden pre-activation, carried in
    ``State.aux`` from one block-Gibbs step to the next (the free energy of the new ``v``
    needs it, and so does the next ``p(h | v)``: one matrix product saved per step). Valid
    only for the parameters it was computed with (``key``: their identities and in-place
    version counters, which an optimiser step bumps). ``State.take``/``where`` rebuild
    ``aux`` as a plain tuple, which is then simply recomputed."""

    key: tuple


def _rbm_key(rbm) -> tuple:
    return tuple((id(p), p._version) for p in (rbm.W, rbm.b_visible, rbm.b_hidden))


def _rbm_block_step(rbm, state: State, gen: torch.Generator) -> tuple[State, Info]:
    """Block Gibbs on an ``RBM`` itself, the same draws as ``sample_hidden`` /
    ``sample_visible`` and the same free-energy formula, with the hidden pre-activation of the
    new ``v`` computed once and reused by the next step."""
    W, bv, bh = rbm.W, rbm.b_visible, rbm.b_hidden
    v = state.x
    key = _rbm_key(rbm)
    cache = state.aux
    if isinstance(cache, _HiddenInput) and cache.key == key:
        a = cache[0]
    else:
        a = bh + v.to(W.dtype) @ W
    p_h = torch.sigmoid(a)
    h = (torch.rand(p_h.shape, generator=gen, dtype=p_h.dtype, device=p_h.device) < p_h)
    p_v = torch.sigmoid(bv + h.to(W.dtype) @ W.T)
    v_new = (torch.rand(p_v.shape, generator=gen, dtype=p_v.dtype, device=p_v.device)
             < p_v).to(v.dtype)
    vf = v_new.to(W.dtype)
    a_new = bh + vf @ W
    e = -(vf @ bv) - torch.nn.functional.softplus(a_new).sum(1)
    aux = _HiddenInput((a_new,))
    aux.key = key
    info = Info(accept_prob=torch.ones_like(e), n_energy=3)
    return state.replace(x=v_new, energy=e, aux=aux), info


@register
class MetropolisFlip(_DiscreteKernel):
    """Metropolis single-site (or ``n_flips``-site) flips: propose flipping sites, accept
    with ``min(1, e^{E(x) - E(x')})``. Any discrete energy.

    ``scan="random"``: each proposal flips ``m`` distinct, uniformly drawn sites of each
    chain, ``m`` uniform on ``1 … n_flips`` (a fixed even ``m`` would conserve the parity of
    the magnetisation: the chain would not be ergodic); a step is ``D`` proposals, or one
    with ``sweep=False``. ``scan="checkerboard"``
    proposes every site of a colour class at once, each accepted on its own (valid because
    sites of one colour do not interact), ``n_flips = 1`` only. ``accept_prob`` is the mean
    acceptance probability of the step's proposals.
    """

    name = "flip"
    params = (Param("scan", "random", choices=("checkerboard", "random"),
                    doc="random: uniformly drawn sites; checkerboard: colour classes in "
                        "parallel"),
              Param("n_flips", 1, 1, 64, integer=True,
                    doc="at most this many sites flipped per proposal (1 … n_flips, uniform)"),
              _SWEEP)

    def __init__(self, values: tuple[float, float] | None = None, **hyper: Any) -> None:
        super().__init__(values, **hyper)
        if self.n_flips > 1 and self.scan == "checkerboard":
            raise ValueError(f"n_flips={self.n_flips} needs scan='random' (a checkerboard "
                             "update flips one site at a time)")

    def step(self, energy: Energy, state: State, gen: torch.Generator) -> tuple[State, Info]:
        if self.n_flips == 1:
            return _site_sweep(self, energy, state, gen, "metropolis")
        model = site_model(energy)
        values = self._values(model, energy)
        n, d = state.x.shape
        k = min(self.n_flips, d)
        infos = []
        for _ in range(d if self.sweep else 1):
            # m ~ U{1..k} distinct sites per chain: the m smallest of D uniforms.
            u = torch.rand(n, d, generator=gen, device=state.x.device)
            m = torch.randint(1, k + 1, (n, 1), generator=gen, device=state.x.device)
            mask = u <= u.sort(1).values.gather(1, m - 1)
            y = torch.where(mask, _flip(state.x, values), state.x)
            e_y, _, aux = evaluate(energy, y, grad=False)
            state, info = metropolis(state, state.replace(x=y, energy=e_y, aux=aux),
                                     state.energy - e_y, gen, n_energy=1)
            infos.append(info)
        return state, _merge(infos)


def _merge(infos: list[Info]) -> Info:
    if len(infos) == 1:
        return infos[0]
    acc = torch.stack([i.accept_prob for i in infos]).mean(0)
    div = None
    if infos[0].diverged is not None:
        div = torch.stack([i.diverged for i in infos]).any(0)
    return Info(accept_prob=acc, n_grad=sum(i.n_grad for i in infos),
                n_energy=sum(i.n_energy for i in infos), diverged=div)


# The neighbour of site (r, c) to the right, left, below and above, as rolls of an (N, L, L)
# grid: ``grid.roll(*shift)[r, c]`` is that neighbour's value.
_SHIFTS = ((-1, 2), (1, 2), (-1, 1), (1, 1))


@register
class Wolff(_DiscreteKernel):
    """Wolff cluster updates for the Ising model (Wolff 1989), batched over chains.

    Every chain picks a seed site; the cluster grows over bonds to aligned neighbours (for
    ``J > 0``; anti-aligned for ``J < 0``), each bond added with ``p = 1 - e^{-2|J|/T}``; the
    growth runs on all chains at once, frontier by frontier, until no chain's cluster grows;
    then the cluster flips. With a field ``h ≠ 0`` the flip is a Metropolis–Hastings proposal
    accepted with ``min(1, e^{-2h Σ_{i∈C} s_i / T})`` (the bond part needs no correction), so
    the chain stays exact; its acceptance falls as ``|h|`` and the clusters grow.

    Needs an Ising energy, possibly tempered or on a tempering ladder (``E/T``, ``β_r E``);
    anything else is a ``ValueError``. ``n_clusters`` flips per step; each step costs one
    energy evaluation (the energy of the new state)."""

    name = "wolff"
    params = (Param("n_clusters", 1, 1, 100, integer=True, doc="cluster flips per step"),)

    def _lattice(self, energy: Energy) -> tuple[torch.Tensor | float, Energy]:
        model = site_model(energy)
        if model.lattice is None:
            raise ValueError(f"Wolff needs an Ising energy (el.energies.Ising, possibly "
                             f"tempered), got {type(energy).__name__}; use Gibbs or "
                             "MetropolisFlip for other discrete energies")
        coef, ising = model.lattice
        if isinstance(coef, torch.Tensor):
            if bool((coef <= 0).any()):
                raise ValueError("Wolff needs positive inverse temperatures")
        elif coef <= 0:
            raise ValueError(f"Wolff needs a positive inverse temperature, got {coef:g}")
        return coef, ising

    def init(self, energy: Energy, x: torch.Tensor, gen: torch.Generator) -> State:
        self._lattice(energy)
        return super().init(energy, x, gen)

    def step(self, energy: Energy, state: State, gen: torch.Generator) -> tuple[State, Info]:
        coef, ising = self._lattice(energy)
        x = state.x
        n, d = x.shape
        L, dev = ising.L, x.device
        s = x.to(ising.coupling.dtype).view(n, L, L)
        beta = (coef.to(s.dtype).reshape(n, 1, 1) if isinstance(coef, torch.Tensor)
                else torch.full((n, 1, 1), float(coef), dtype=s.dtype, device=dev))
        p_add = -torch.expm1(-2.0 * abs(ising.J) * beta)[:, None]  # (N, 1, 1, 1)
        sign = 1.0 if ising.J >= 0 else -1.0
        rows = torch.arange(n, device=dev)
        acc_all = []
        for _ in range(self.n_clusters):
            # Bond variables, one per (site, direction): the bond from site i to its
            # neighbour in direction k is open with probability p when the spins are aligned
            # (J > 0; anti-aligned for J < 0). The cluster grows into i through it when that
            # neighbour is on the frontier. Each bond is tested once, from whichever end
            # joins first, so one variable per direction and site is one coin per bond.
            # One contiguous (N, L, L) bond mask per direction (slices of one (N, 4, L, L)
            # tensor are strided: every growth iteration paid for that).
            u = _uniform((n, 4, L, L), s, gen)
            p_dir = p_add[:, 0]  # (N, 1, 1)
            open_ = [((s.roll(sh, dim) * s * sign > 0) & (u[:, k] < p_dir))
                     for k, (sh, dim) in enumerate(_SHIFTS)]
            cluster = torch.zeros(n, d, dtype=torch.bool, device=dev)
            cluster[rows, torch.randint(d, (n,), generator=gen, device=dev)] = True
            cluster = cluster.view(n, L, L)
            frontier = cluster
            while bool(frontier.any()):
                reach = open_[0] & frontier.roll(*_SHIFTS[0])
                for k in range(1, 4):
                    reach |= open_[k] & frontier.roll(*_SHIFTS[k])
                frontier = reach.logical_and_(~cluster)
                cluster = cluster | frontier
            flat = cluster.view(n, d)
            sf = s.view(n, d)
            if ising.h != 0.0:
                log_a = -2.0 * ising.h * beta.view(n) * (sf * flat).sum(1)
                accept = _uniform((n,), s, gen).log() < log_a
                acc_all.append(log_a.clamp(max=0.0).exp())
                flat = flat & accept[:, None]
            else:
                acc_all.append(torch.ones(n, dtype=s.dtype, device=dev))
            s = torch.where(flat, -sf, sf).view(n, L, L)
        a, b = ising.values
        x_new = torch.where(s.view(n, d) > 0, b, a).to(x.dtype)
        e, _, aux = evaluate(energy, x_new, grad=False)
        info = Info(accept_prob=torch.stack(acc_all).mean(0).to(e.dtype), n_energy=1)
        return state.replace(x=x_new, energy=e, aux=aux), info


@register
class GibbsWithGradients(_DiscreteKernel):
    """Gibbs-with-gradients (Grathwohl, Swersky, Hashemi, Duvenaud & Maddison 2021): a
    single-site flip proposed from the gradient's estimate of every flip's energy change,
    ``d̃_i = -∂E/∂x_i · (x'_i - x_i)`` (``≈ -(E(x^{(i)}) - E(x))``; exact for multilinear
    energies such as Ising), ``q(i | x) = softmax(d̃/2)``, and a Metropolis–Hastings
    correction ``min(1, e^{E(x) - E(x')} q(i | x') / q(i | x))``. Any differentiable energy
    over two values per site; one gradient evaluation per proposal (a step is ``D`` proposals,
    one with ``sweep=False``). States are kept in floating point (they are differentiated);
    an integer start is cast to the default float dtype.
    """

    name = "gwg"
    uses_grad = True
    params = (Param("sweep", True, doc="a step is D proposals (else one)"),)

    def init(self, energy: Energy, x: torch.Tensor, gen: torch.Generator) -> State:
        if isinstance(x, torch.Tensor) and not x.is_floating_point():
            x = x.to(torch.get_default_dtype())
        return super().init(energy, x, gen)

    def init_cost(self) -> Info:
        return Info(accept_prob=torch.ones(1), n_grad=1)

    def step(self, energy: Energy, state: State, gen: torch.Generator) -> tuple[State, Info]:
        values = self._values(site_model(energy), energy)
        total = values[0] + values[1]
        infos = []
        for _ in range(state.x.shape[1] if self.sweep else 1):
            x, g = state.x, state.grad
            logits = -0.5 * g * (total - 2.0 * x)
            log_q = torch.log_softmax(logits.to(state.energy.dtype), 1)
            gumbel = -torch.log(-torch.log(_uniform(log_q.shape, log_q, gen).clamp_min(1e-30)))
            i = (log_q + gumbel).argmax(1, keepdim=True)
            y = x.clone()
            y.scatter_(1, i, total - y.gather(1, i))
            e_y, g_y, aux = evaluate(energy, y)
            log_q_y = torch.log_softmax((-0.5 * g_y * (total - 2.0 * y)).to(log_q.dtype), 1)
            log_alpha = (state.energy - e_y) + (log_q_y.gather(1, i) - log_q.gather(1, i))[:, 0]
            prop = state.replace(x=y, energy=e_y, grad=g_y, aux=aux)
            state, info = metropolis(state, prop, log_alpha, gen, n_grad=1)
            infos.append(info)
        return state, _merge(infos)
