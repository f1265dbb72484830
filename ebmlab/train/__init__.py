"""Training energies from data: objectives (contrastive divergence with a replay buffer, score
matching, NCE, the compositional exact-likelihood objective) and one ``fit`` loop."""

from .classify import JEM, CrossEntropy, EnergyMargin
from .fit import (
    METHODS,
    Checkpoint,
    History,
    ProgressBar,
    Snapshots,
    TrainingDiverged,
    fit,
    load_checkpoint,
    make_objective,
    save_checkpoint,
)
from .gflownet import (
    GFlowNet,
    HyperGrid,
    MLPPolicy,
    TabularPolicy,
    corner_energy,
    exact_policy,
    target_log_probs,
    train_gflownet,
)
from .negatives import ReplayBuffer, langevin_negatives
from .objectives import NCE, Compositional, ContrastiveDivergence, ScoreMatching
from .rbm import DiscreteContrastiveDivergence, HeldOutLogLikelihood

__all__ = [
    "METHODS", "NCE", "Checkpoint", "Compositional", "ContrastiveDivergence", "History",
    "ProgressBar", "ReplayBuffer", "ScoreMatching", "Snapshots", "TrainingDiverged", "fit",
    "langevin_negatives", "load_checkpoint", "make_objective", "save_checkpoint",
]
__all__ += ["JEM", "CrossEntropy", "EnergyMargin"]
__all__ += [
    "DiscreteContrastiveDivergence", "GFlowNet", "HeldOutLogLikelihood", "HyperGrid",
    "MLPPolicy", "TabularPolicy", "corner_energy", "exact_policy", "target_log_probs",
    "train_gflownet",
]
