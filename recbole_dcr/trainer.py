"""Trainer for recbole_dcr: RecBole's training loop with per-user ranking evaluation.

What differs from :class:`recbole.trainer.Trainer`:

* valid/test use :class:`~recbole_dcr.data.dataloader.UserRankingEvalDataLoader` (each user's own
  rows ranked on the evaluation label) and RecBole's ``Collector``/metric classes compute the figures;
* separate L2 coefficients for embedding tables and for the other parameters (paper, sec. 5.1.3);
* data-parallel runs (RecBole's ``nproc``/``world_size``) also work on CPU with gloo and equal a
  one-process run: see :mod:`recbole_dcr.distributed`;
* checkpoints hold only tensors and plain Python values, so they load with
  ``torch.load(weights_only=True)`` (torch >= 2.6 refuses RecBole's pickled ``Config``);
* a training state beside the best-model checkpoint, rewritten at the start of every epoch, from
  which a killed run resumes exactly (:meth:`DCRTrainer.resume_training`, ``--resume``).
"""

import json
import os
from collections import OrderedDict

import numpy as np
import torch
import torch.distributed as dist
from recbole.utils import set_color
from torch import nn
from tqdm import tqdm

from recbole_dcr.checkpoint import (
    CHECKPOINT_FORMAT,
    TRAINING_STATE_KIND,
    ResumeError,
    config_to_json,
    find_training_state,
    load_checkpoint,
    random_state,
    save_checkpoint,
    set_random_state,
    state_file_for,
)
from recbole_dcr.compat import TrainerBase
from recbole_dcr.cuda_graphs import GraphedTrainingStep, graph_ready
from recbole_dcr.data.dataloader import (
    DCRTrainDataLoader,
    UserRankingEvalDataLoader,
    scatter_scores,
    strict_ranking_scores,
)
from recbole_dcr.data.dataset import dataset_fingerprint
from recbole_dcr.distributed import (
    CrossRankBatchNorm1d,
    broadcast_from_first_rank,
    broadcast_model,
    is_distributed,
    sum_gradients,
)
from recbole_dcr.files import remove_stale_temporaries
from recbole_dcr.sparse_embeddings import SPARSE_LEARNERS, RowSparseAdagrad, SparseEmbeddings
from recbole_dcr.version import __version__

RANKING_METRICS = {"recall", "cappedrecall", "map", "ndcg", "precision", "mrr", "hit"}


# Collector entries with one row per evaluated user (or row); every rank holds its own users' rows.
PER_USER_ENTRIES = ("rec.topk", "rec.meanrank", "rec.score", "rec.items", "data.label")


class DCRTrainer(TrainerBase):
    """RecBole ``Trainer`` with per-user ranking evaluation and weights-only checkpoints."""

    def __init__(self, config, model):
        unsupported = [m for m in config["metrics"] if m.lower() not in RANKING_METRICS]
        if unsupported:
            raise ValueError(
                f"metrics {unsupported} are not supported by per-user ranking evaluation; "
                f"use any of Recall, CappedRecall, MAP, NDCG, Precision, MRR, Hit."
            )
        if config["train_precision"] not in ("fp32", "bf16"):
            raise ValueError(f"train_precision must be fp32 or bf16, got {config['train_precision']!r}")
        super().__init__(config, model)
        self.dataset_fingerprint = None  # set by fit() from the training split
        self.train_dataset = None  # the training split fit() saw (the analyses group users by it)
        if is_distributed(config):
            # The file name holds the start time, which differs between processes; rank 0 writes it.
            self.saved_model_file = broadcast_from_first_rank(self.saved_model_file)

    def fit(self, train_data, valid_data=None, verbose=True, saved=True, show_progress=False, callback_fn=None):
        self.dataset_fingerprint = dataset_fingerprint(train_data._dataset)
        self.train_dataset = train_data._dataset
        self._training_begins(train_data, saved)
        result = super().fit(train_data, valid_data, verbose, saved, show_progress, callback_fn)
        self._training_ends(saved)
        return result

    # A weight needs a few hundred steps of pure decay to go from its initial size to subnormal, so
    # a check every few dozen steps catches it long before it costs anything; at Kwai size a check
    # every 8 steps was a tenth of a step's time.
    FLUSH_EVERY = 32

    @torch.no_grad()
    def _flush_subnormal_weights(self):
        """Zero, every FLUSH_EVERY steps, the weights that L2 has shrunk below float32's normal range.

        Under Adagrad a weight whose data gradient is zero (a dead ReLU unit, an unseen item) decays
        geometrically and soon becomes subnormal; a matrix product touching subnormals runs 10-60x
        slower on x86, and torch's flush-to-zero mode covers only the calling thread, not the intra-op
        workers. Zeroing them moves the results by rounding only.
        """
        self._steps_since_flush = getattr(self, "_steps_since_flush", 0) + 1
        if not self.config["flush_denormal"] or self._steps_since_flush < self.FLUSH_EVERY:
            return
        self._steps_since_flush = 0
        tiny = torch.finfo(torch.float32).tiny
        sparse = self._sparse_parameter_ids()  # updated only where read, so never decayed into subnormals
        for parameter in self.model.parameters():
            if parameter.dtype == torch.float32 and id(parameter) not in sparse:
                parameter.masked_fill_(parameter.abs() < tiny, 0.0)

    def prepare_model(self):
        if is_distributed(self.config):
            CrossRankBatchNorm1d.convert(self.model)
            broadcast_model(self.model)
        self.sparse_embeddings = None
        if self.config["sparse_embeddings"]:
            self.sparse_embeddings = SparseEmbeddings(self.model, self._sparse_l2_coefficient(),
                                                      min_rows=int(self.config["train_batch_size"]))

    def _sparse_l2_coefficient(self):
        learner = str(self.config["learner"]).lower()
        if learner not in SPARSE_LEARNERS:
            raise ValueError(f"sparse_embeddings: True needs a learner that takes sparse gradients "
                             f"({', '.join(SPARSE_LEARNERS)}), not {learner}; or set sparse_embeddings: False")
        if is_distributed(self.config):
            raise ValueError("sparse_embeddings: True runs in one process; set nproc to 1 or sparse_embeddings: False")
        # the gradient of c·‖e‖² is 2c·e, the decay the dense mode gives every row: c = l2_scale·λ / 2
        return self.l2_scale() * (self.config["embedding_weight_decay"] or 0.0) / 2

    def _train_epoch(self, train_data, epoch_idx, loss_func=None, show_progress=False):
        """One epoch; under data-parallel training, on this rank's shares of each global batch.

        A rank's mean loss is weighted by its share of the batch's rows and the gradients are summed
        over ranks, so every step follows the gradient of the whole batch's mean loss. On a GPU the
        loss is summed on the device and checked once per epoch (a check per step would stop the
        stream), and full batches replay one captured CUDA graph where :mod:`recbole_dcr.cuda_graphs`
        allows (``cuda_graphs``).
        """
        self._epoch_begins(train_data, epoch_idx)
        self.model.train()
        loss_func = loss_func or self.model.calculate_loss
        if isinstance(train_data, DCRTrainDataLoader):
            train_data.to(self.device)
        graphed = self._graphed_step(train_data, loss_func)
        if graphed is not None:
            graphed.loss_total.zero_()
            for index in self._progress(train_data.index_batches(), epoch_idx, show_progress, len(train_data)):
                graphed(index)
            graphed.end_epoch()
            total = graphed.loss_total.item()
            self._check_nan(torch.tensor(total))
            return total
        distributed = is_distributed(self.config)
        scaler = torch.amp.GradScaler(self.device.type, enabled=self.enable_scaler)
        on_host = self.device.type == "cpu"
        total_loss = None
        for interaction in self._progress(train_data, epoch_idx, show_progress):
            interaction = interaction.to(self.device)
            self.optimizer.zero_grad()
            with self._autocast():
                losses = loss_func(interaction)
            loss = sum(losses) if isinstance(losses, tuple) else losses
            if on_host:
                self._check_nan(loss)
            if self.sparse_embeddings is not None:
                penalty = self.sparse_embeddings.penalty()  # L2 on the embedding rows this batch read
                loss = loss if penalty is None else loss + penalty
            if distributed and not self.summed_loss():  # a mean loss: weight this rank's by its share of rows
                loss = loss * (len(interaction) / train_data.global_batch_rows)
            scaler.scale(loss).backward()
            if distributed:
                sum_gradients(self.model.parameters())
            if self.clip_grad_norm:
                nn.utils.clip_grad_norm_(self.model.parameters(), **self.clip_grad_norm)
            scaler.step(self.optimizer)
            if on_host:
                self._flush_subnormal_weights()  # GPUs compute with subnormals at full speed
            scaler.update()
            total_loss = add_losses(total_loss, losses, on_host)
        total_loss = host_losses(total_loss)
        if not on_host and total_loss is not None:
            self._check_nan(torch.tensor(sum(total_loss) if isinstance(total_loss, tuple) else total_loss))
        return total_loss

    def _autocast(self):
        """bf16 autocast when ``train_precision: bf16`` (RecBole's ``enable_amp`` keeps its float16 meaning)."""
        if self.config["train_precision"] == "bf16":
            # no cast cache: a CUDA graph would replay casts of the weights as they were when captured
            return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, cache_enabled=False)
        return torch.autocast(device_type=self.device.type, enabled=self.enable_amp)

    _graph = None
    _graph_checked = False

    def _graphed_step(self, train_data, loss_func):
        """The CUDA-graph step runner of this training (made once), or None where the eager loop runs."""
        if self._graph_checked:
            return self._graph
        self._graph_checked = True
        if not self.config["cuda_graphs"] or not isinstance(train_data, DCRTrainDataLoader):
            return None
        why_not = graph_ready(self.device, self.optimizer, distributed=is_distributed(self.config),
                              sparse=self.sparse_embeddings is not None, clip_grad_norm=self.clip_grad_norm,
                              scaled=self.enable_scaler or (self.enable_amp and self.config["train_precision"] != "bf16"))
        if why_not:
            if self.device.type == "cuda":
                self.logger.info(f"cuda_graphs: the eager training loop runs ({why_not})")
            return None

        def step_loss(interaction):
            with self._autocast():
                return loss_func(interaction)

        total = torch.zeros((), dtype=torch.float64, device=self.device)
        self._graph = GraphedTrainingStep(train_data, self.optimizer, step_loss, train_data.batch_size, total,
                                          self.logger)
        return self._graph

    @staticmethod
    def _progress(batches, epoch_idx, show_progress, total=None):
        """The training batches, behind RecBole's progress bar when asked for."""
        if not show_progress:
            return batches
        return tqdm(batches, total=total or len(batches), ncols=100, desc=set_color(f"Train {epoch_idx:>5}", "pink"))

    def _optimized_parameters(self):
        """Parameters the main optimizer updates (all of the model's, unless a subclass says otherwise)."""
        return list(self.model.parameters())

    def summed_loss(self):
        """Whether the model's loss is a sum over the batch's rows (else a mean)."""
        return getattr(self.model, "loss_reduction", "mean") == "sum"

    def l2_scale(self):
        """Optimizer weight decay per unit of the configured L2 coefficient.

        With ``loss_reduction: sum`` (the paper's eq. 3, the authors' code) a batch's loss is
        Σ_rows BCE + λ‖W‖² and the coefficients are that λ: its gradient 2λW is weight decay 2λ. With
        ``mean`` (RecBole's habit) the coefficient is torch's weight decay on the mean BCE.
        """
        return 2.0 if self.summed_loss() else 1.0

    def _l2_groups(self, parameters):
        """Embedding tables (``embedding_weight_decay``), other weights (``weight_decay``), and biases and
        BatchNorm's scale and shift, which no L2 term touches (as in the paper's authors' code)."""
        embedding_ids = {id(p) for m in self.model.modules() if isinstance(m, nn.Embedding) for p in m.parameters()}
        unpenalized = {id(p) for m in self.model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
                       for p in m.parameters()}
        unpenalized |= {id(p) for name, p in self.model.named_parameters() if _is_bias(name)}
        trainable = [p for p in parameters if p.requires_grad]
        scale = self.l2_scale()
        # sparse tables: their L2 term is in the loss, on the rows each batch reads (SparseEmbeddings)
        sparse = self._sparse_parameter_ids()
        groups = [
            {"params": [p for p in trainable if id(p) in embedding_ids - sparse],
             "weight_decay": scale * (self.config["embedding_weight_decay"] or 0.0)},
            {"params": [p for p in trainable if id(p) not in embedding_ids | unpenalized],
             "weight_decay": scale * (self.config["weight_decay"] or 0.0)},
            {"params": [p for p in trainable if id(p) in unpenalized], "weight_decay": 0.0},
        ]
        if sparse:  # sparse mode: the tables' own group; small tables stay in the first (dense L2)
            groups = [{"params": [p for p in trainable if id(p) in sparse], "weight_decay": 0.0}] + \
                     [group for group in groups[:1] if group["params"]] + groups[1:]
        return groups

    def _build_optimizer(self, **kwargs):
        kwargs["params"] = self._l2_groups(kwargs.get("params", self._optimized_parameters()))
        optimizer = super()._build_optimizer(**kwargs)
        if type(optimizer) is torch.optim.Adagrad and self._sparse_parameter_ids():
            optimizer = RowSparseAdagrad(optimizer.param_groups, **optimizer.defaults)
        if self.device.type == "cpu":
            fuse_optimizer_groups(optimizer, self._sparse_parameter_ids())
        return optimizer

    def _sparse_parameter_ids(self):
        """Parameters whose gradients are sparse tensors (sparse embedding tables)."""
        if self.sparse_embeddings is None:
            return set()
        return {id(table.weight) for table in self.sparse_embeddings.tables}

    # ------------------------------------------------------------------ checkpoints
    def _checkpoint_state(self, epoch):
        return {
            "format": CHECKPOINT_FORMAT,
            "model": self.config["model"],
            "dataset": self.config["dataset"],
            "config": config_to_json(self.config),
            # what load_data_and_model needs to rebuild the same Config and check the data's id mappings
            "external_config": json.dumps(self.config.external_config_dict, default=str, sort_keys=True),
            "dataset_fingerprint": self.dataset_fingerprint,
            "recbole_dcr_version": __version__,
            "epoch": int(epoch),
            "cur_step": int(self.cur_step),
            "best_valid_score": float(self.best_valid_score),
            "state_dict": self.model.state_dict(),
            "other_parameter": self.model.other_parameter(),
            "optimizer": self.optimizer.state_dict(),
        }

    def _save_checkpoint(self, epoch, verbose=True, **kwargs):
        if not self.config["single_spec"] and self.config["local_rank"] != 0:
            return
        saved_model_file = kwargs.pop("saved_model_file", self.saved_model_file)
        save_checkpoint(saved_model_file, self._checkpoint_state(epoch))
        if verbose:
            self.logger.info(set_color("Saving current", "blue") + f": {saved_model_file}")

    def _load_training_checkpoint(self, checkpoint):
        """Weights, optimizer, epoch and early-stopping counters from a checkpoint of either kind."""
        self.start_epoch = checkpoint["epoch"] + 1
        self.cur_step = checkpoint["cur_step"]
        self.best_valid_score = checkpoint["best_valid_score"]
        self.model.load_state_dict(checkpoint["state_dict"])
        self.model.load_other_parameter(checkpoint.get("other_parameter"))
        self.optimizer.load_state_dict(checkpoint["optimizer"])

    def resume_checkpoint(self, resume_file):
        """RecBole's resume from a best-model checkpoint (weights, optimizer, epoch, counters); given a
        training state or a folder of them, the exact resume of :meth:`resume_training`."""
        resume_file = str(resume_file)
        if os.path.isdir(resume_file):
            return self.resume_training(resume_file)
        checkpoint = load_checkpoint(resume_file, "cpu", kind=None)
        if checkpoint.get("kind") == TRAINING_STATE_KIND:
            return self.resume_training(resume_file)
        refuse_another_model(self.config, resume_file, checkpoint)
        self.saved_model_file = resume_file
        self._load_training_checkpoint(checkpoint)
        self.logger.info(f"Checkpoint loaded. Resume training from epoch {self.start_epoch}")

    # ------------------------------------------------------------------ resumable training state
    _saving_state = False  # fit(saved=True): the training state is written as every epoch begins
    _resumed = None  # what a resumed run restores as its first epoch begins
    _state_file = None  # the state file a resumed run goes on writing
    _last_epoch = -1

    def training_state_file(self):
        """This run's training state: ``<best-model file>.state.pt`` (``X.pth`` -> ``X.state.pt``)."""
        return self._state_file or state_file_for(self.saved_model_file)

    def resume_training(self, path):
        """Continue a killed run exactly from its training state ``path``, or from a folder's newest
        unfinished state of this model and dataset; refuses another model, dataset or config.

        Weights, optimizer(s), epoch and early-stopping counters are restored now; the random states
        of torch, numpy, ``random`` and the training loader when the first epoch begins, where they
        were saved. The run goes on writing the same best-model checkpoint and state file.
        """
        path = check_resumable(self.config, path)
        state = load_checkpoint(path, "cpu", kind=TRAINING_STATE_KIND)
        trained_on, here = json.loads(state["config"]).get("device"), str(self.config["device"])
        if trained_on != here:
            self.logger.warning(f"{path} was trained on {trained_on}, resumed on {here}: the figures may differ "
                                f"from an uninterrupted run's by rounding")
        self._load_training_checkpoint(state)
        result = state["best_valid_result"]
        self.best_valid_result = None if result is None else OrderedDict(result)
        self.train_loss_dict = {int(epoch): loss for epoch, loss in state["train_loss"].items()}
        self.saved_model_file = os.path.join(os.path.dirname(os.path.abspath(path)), state["best_model_file"])
        self._state_file = path
        for written in (self.saved_model_file, path):  # a write the kill cut short left its temporary file
            for name in remove_stale_temporaries(written):
                self.logger.info(f"removed {name}, left half-written when the run was killed")
        self._resumed = {"file": path, "rng": state["rng"][self._rank()], "train_loader": state["train_loader"],
                         "dataset_fingerprint": state["dataset_fingerprint"]}
        self.logger.info(f"resumed from {path} at epoch {self.start_epoch}")

    def _rank(self):
        return self.config["local_rank"] + self.config["offset"] if is_distributed(self.config) else 0

    def _training_begins(self, train_data, saved):
        """fit() begins: a resumed run checks its data and loader; a saved run writes its state every epoch."""
        self._saving_state = bool(saved)
        if self._resumed is None:
            return
        file = self._resumed["file"]
        if not saved:
            raise ResumeError(f"resuming {file} needs saved=True (it goes on writing its checkpoints)")
        trained_on, here = self._resumed["dataset_fingerprint"], self.dataset_fingerprint
        if trained_on != here:
            fields = sorted(f for f in set(trained_on) | set(here) if trained_on.get(f) != here.get(f))
            raise ResumeError(f"{file} was trained on other data than dataset '{self.config['dataset']}' holds now "
                              f"(the ids of {', '.join(fields)} differ); resume with the data it was trained on")
        if loader_state(train_data) is None:
            raise ResumeError(f"{file}: the training loader ({type(train_data).__name__}) keeps no random state that "
                              f"can be restored; use recbole_dcr's loader (fast_data: True)")

    def _epoch_begins(self, train_data, epoch_idx):
        """Called first in every training epoch: a resumed run restores its random states, else the state is saved."""
        self._last_epoch = epoch_idx
        self._steps_since_flush = 0  # the flush schedule restarts with each epoch, so a resumed run keeps it
        if self._resumed is not None:
            resumed, self._resumed = self._resumed, None
            set_random_state(resumed["rng"])
            if self.device.type == "cuda" and resumed["rng"].get("cuda") is not None:
                torch.cuda.set_rng_state(resumed["rng"]["cuda"], self.device)
            set_loader_state(train_data, resumed["train_loader"])
        elif self._saving_state:
            self._save_training_state(train_data, epoch_idx)

    def _save_training_state(self, train_data, next_epoch):
        """Everything an uninterrupted run has as epoch ``next_epoch`` begins, in tensors and plain values."""
        rng = random_state()
        rng["cuda"] = torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else None
        every_rank = [rng]
        if is_distributed(self.config):  # each rank's own random states (dropout draws differ per rank)
            every_rank = [None] * dist.get_world_size()
            dist.all_gather_object(every_rank, rng)
            if self.config["local_rank"] != 0:
                return
        state = self._checkpoint_state(next_epoch - 1)
        state.update({
            "kind": TRAINING_STATE_KIND,
            "finished": False,
            "best_model_file": os.path.basename(self.saved_model_file),
            "best_valid_result": _plain_result(self.best_valid_result),
            "train_loss": {int(epoch): float(loss) for epoch, loss in self.train_loss_dict.items()},
            "rng": every_rank,
            "train_loader": loader_state(train_data),
        })
        save_checkpoint(self.training_state_file(), state)

    def _final_stage(self):
        """Whether the fit() now ending ends the training (FairGo's pretraining stage does not)."""
        return True

    def _training_ends(self, saved):
        """A run that ends leaves a small ``finished`` marker in place of its state, so it is not resumed."""
        if not (saved and self._final_stage()) or (is_distributed(self.config) and self.config["local_rank"] != 0):
            return
        save_checkpoint(self.training_state_file(), {
            "format": CHECKPOINT_FORMAT,
            "kind": TRAINING_STATE_KIND,
            "finished": True,
            "model": self.config["model"],
            "dataset": self.config["dataset"],
            "recbole_dcr_version": __version__,
            "epoch": int(self._last_epoch),
            "best_model_file": os.path.basename(self.saved_model_file),
            "best_valid_score": float(self.best_valid_score),
            "best_valid_result": _plain_result(self.best_valid_result),
        })

    # ------------------------------------------------------------------ evaluation
    @torch.no_grad()
    def evaluate(self, eval_data, load_best_model=True, model_file=None, show_progress=False):
        if eval_data is None:  # no validation split (a rank with no users of its own still takes part)
            return
        if not isinstance(eval_data, UserRankingEvalDataLoader):
            raise TypeError("DCRTrainer evaluates UserRankingEvalDataLoader batches (see recbole_dcr.data_preparation)")
        if load_best_model:
            if is_distributed(self.config):
                dist.barrier()  # rank 0 has written the file
            checkpoint_file = model_file or self.saved_model_file
            checkpoint = load_checkpoint(checkpoint_file, self.device)
            self.model.load_state_dict(checkpoint["state_dict"])
            self.model.load_other_parameter(checkpoint.get("other_parameter"))
            self.logger.info(f"Loading model structure and parameters from {checkpoint_file}")

        self.model.eval()
        eval_data.to(self.device)
        batches = (
            tqdm(eval_data, total=len(eval_data), ncols=100, desc=set_color("Evaluate   ", "pink"))
            if show_progress
            else eval_data
        )
        for interaction, row_user, row_col, positive_u, positive_i, shape in batches:
            interaction = interaction.to(self.device)
            scores = self.model.predict(interaction)
            padded = scatter_scores(scores, row_user.to(self.device), row_col.to(self.device), shape)
            self.eval_collector.eval_batch_collect(
                strict_ranking_scores(padded), interaction, positive_u.to(self.device), positive_i.to(self.device)
            )
        self.eval_collector.model_collect(self.model)
        struct = self.eval_collector.get_data_struct()
        if is_distributed(self.config):
            self._gather_users(struct)
        result = self.evaluator.evaluate(struct)
        self.wandblogger.log_eval_metrics(result, head="eval")
        return result

    @staticmethod
    def _gather_users(struct):
        """Every rank's per-user entries in one struct, so metrics average over all users."""
        for key in PER_USER_ENTRIES:
            parts = [None] * dist.get_world_size()
            dist.all_gather_object(parts, struct[key] if key in struct else None)
            parts = [part for part in parts if part is not None]
            if parts:
                struct.set(key, torch.cat(parts, dim=0))


class FairGoTrainer(DCRTrainer):
    """FairGo in the two stages the DCR authors ran it in (:class:`~recbole_dcr.model.fairgo.FairGo`).

    1. Pretraining, unless the model was loaded from ``pretrained_checkpoint``: the recommender alone
       (NFM-WA, no filter) with the main learner and early stopping; its best weights are kept.
    2. Adversarial: embeddings and first-order weights stay as pretrained; ``fairgo_learner`` (Adam)
       trains the filter + NFM's MLP on BCE − λ·CE and the discriminator on its CE. With
       ``fairgo_alternation: epoch`` (the authors') an epoch is a pass of discriminator steps, then a
       pass of filter + MLP steps; with ``batch`` the two alternate step by step. Early stopping again.
    """

    def __init__(self, config, model):
        if is_distributed(config):
            raise ValueError("FairGo's alternating adversarial updates are not data-parallel; train it with nproc=1.")
        if config["fairgo_alternation"] not in ("epoch", "batch"):
            raise ValueError(f"fairgo_alternation must be 'epoch' or 'batch', got {config['fairgo_alternation']!r}")
        super().__init__(config, model)
        self.discriminator_optimizer = self._adversarial_optimizer(model.discriminator_parameters(),
                                                                   config["discriminator_learning_rate"])
        if model.pretrained:  # loaded from pretrained_checkpoint: straight to the adversarial stage
            self.begin_adversarial_stage()

    def _optimized_parameters(self):
        """The pretraining stage trains the recommender: everything but the filter and the discriminator."""
        adversarial = {id(p) for p in self.model.discriminator_parameters() + list(self.model.filter.parameters())}
        return [p for p in self.model.parameters() if id(p) not in adversarial]

    def _adversarial_optimizer(self, parameters, learning_rate=None):
        rate = learning_rate or self.config["fairgo_learning_rate"] or self.learning_rate
        return self._build_optimizer(params=parameters, learner=self.config["fairgo_learner"], learning_rate=rate)

    def fit(self, train_data, valid_data=None, verbose=True, saved=True, show_progress=False, callback_fn=None):
        if not self.model.pretrained:
            self.model.filtering = False
            super().fit(train_data, valid_data, verbose, saved, show_progress, callback_fn)
            if saved and valid_data:
                self.model.load_state_dict(load_checkpoint(self.saved_model_file, self.device)["state_dict"])
            self.model.pretrained = True
            self.begin_adversarial_stage()
        return super().fit(train_data, valid_data, verbose, saved, show_progress, callback_fn)

    def begin_adversarial_stage(self):
        """Filter on, the adversarial optimizers, and early stopping counted afresh."""
        self.model.filtering = True
        self.optimizer = self._adversarial_optimizer(self.model.adversarial_parameters())
        self.discriminator_optimizer = self._adversarial_optimizer(self.model.discriminator_parameters(),
                                                                   self.config["discriminator_learning_rate"])
        self.start_epoch, self.cur_step, self.best_valid_result = 0, 0, None
        self.best_valid_score = -np.inf if self.valid_metric_bigger else np.inf

    def _train_epoch(self, train_data, epoch_idx, loss_func=None, show_progress=False):
        if not self.model.filtering:
            return super()._train_epoch(train_data, epoch_idx, loss_func, show_progress)
        self._epoch_begins(train_data, epoch_idx)
        self.model.train()
        if self.config["fairgo_alternation"] == "epoch":
            discriminator_total = sum(self._discriminator_step(i) for i in self._batches(train_data, epoch_idx, show_progress))
            recommender_total = sum(self._recommender_step(i) for i in self._batches(train_data, epoch_idx, show_progress))
            return recommender_total, discriminator_total
        recommender_total, discriminator_total = 0.0, 0.0
        for interaction in self._batches(train_data, epoch_idx, show_progress):
            discriminator_total += self._discriminator_step(interaction)
            recommender_total += self._recommender_step(interaction)
        return recommender_total, discriminator_total

    def _batches(self, train_data, epoch_idx, show_progress):
        return (interaction.to(self.device) for interaction in self._progress(train_data, epoch_idx, show_progress))

    def _forget_embedding_reads(self):
        """The adversarial stage leaves the tables as pretrained: no L2 term for the rows its batches read."""
        if self.sparse_embeddings is not None:
            self.sparse_embeddings.read.clear()

    def _discriminator_step(self, interaction):
        self._forget_embedding_reads()
        self.discriminator_optimizer.zero_grad()
        loss = self.model.discriminator_loss(interaction)
        loss.backward()
        self.discriminator_optimizer.step()
        self._flush_subnormal_weights()
        return loss.item()

    def _recommender_step(self, interaction):
        self.optimizer.zero_grad()
        loss = self.model.calculate_loss(interaction)
        self._check_nan(loss)
        loss.backward()
        if self.clip_grad_norm:
            torch.nn.utils.clip_grad_norm_(self.model.adversarial_parameters(), **self.clip_grad_norm)
        self.optimizer.step()
        self._flush_subnormal_weights()
        self._forget_embedding_reads()
        return loss.item()

    def _checkpoint_state(self, epoch):
        state = super()._checkpoint_state(epoch)
        state["discriminator_optimizer"] = self.discriminator_optimizer.state_dict()
        state["fairgo_stage"] = "adversarial" if self.model.filtering else "pretraining"
        return state

    def _load_training_checkpoint(self, checkpoint):
        if checkpoint.get("fairgo_stage") == "adversarial" and not self.model.pretrained:
            # saved in the adversarial stage: its optimizers, over the filter + MLP and the discriminator
            self.model.pretrained = True
            self.begin_adversarial_stage()
        super()._load_training_checkpoint(checkpoint)
        self.discriminator_optimizer.load_state_dict(checkpoint["discriminator_optimizer"])

    def _final_stage(self):
        return self.model.filtering


# Config keys a resumed run may set otherwise: where checkpoints go, what is shown, which device and port.
RESUME_FREE_KEYS = frozenset({
    "checkpoint_dir", "show_progress", "state", "verbose", "log_wandb", "wandb_project", "gpu_id", "use_gpu",
    "device", "local_rank", "ip", "port", "save_dataset", "save_dataloaders", "dataset_save_path",
    "dataloaders_save_path",
})


def check_resumable(config, path):
    """The training state a run of ``config`` resumes from ``path`` (a state file, or a folder's newest
    unfinished state of this model and dataset), checked before any data is loaded: another model,
    dataset or config, a finished run and a loader without a restorable state are refused (ResumeError)."""
    path = find_training_state(path, config["model"], config["dataset"])
    state = load_checkpoint(path, "cpu", kind=TRAINING_STATE_KIND, mmap=True)
    refuse_another_model(config, path, state)
    if state.get("finished"):
        best = os.path.join(os.path.dirname(path), state["best_model_file"])
        raise ResumeError(
            f"{path}: this run of {state['model']} on {state['dataset']} finished (last epoch {state['epoch']}); "
            f"nothing to resume. Its best model is {best}; train again without --resume for a new run."
        )
    saved, here = json.loads(state["config"]), json.loads(config_to_json(config))
    differing = [key for key in sorted(set(saved) | set(here))
                 if key not in RESUME_FREE_KEYS and saved.get(key, "(unset)") != here.get(key, "(unset)")]
    if differing:
        shown = "; ".join(f"{key}: {saved.get(key, '(unset)')!r} there, {here.get(key, '(unset)')!r} here"
                          for key in differing[:8])
        more = f" (and {len(differing) - 8} more)" if len(differing) > 8 else ""
        raise ResumeError(f"{path} was trained with another config: {shown}{more}. Resume with the command line "
                          f"and config files of the run it comes from.")
    if state["train_loader"] is None:
        raise ResumeError(f"{path}: its training loader kept no random state that can be restored; resume needs "
                          f"recbole_dcr's loader (fast_data: True) or RecBole's TrainDataLoader")
    return path


def refuse_another_model(config, path, checkpoint):
    if checkpoint["model"] != config["model"] or checkpoint["dataset"] != config["dataset"]:
        raise ResumeError(
            f"{path} holds {checkpoint['model']} on {checkpoint['dataset']}, not {config['model']} on {config['dataset']}."
        )


def loader_state(train_data):
    """The training loader's random state (tensors), or None for a loader that keeps none we can restore."""
    if isinstance(train_data, DCRTrainDataLoader):
        return train_data.state_dict()
    generator = getattr(train_data, "generator", None)  # RecBole's TrainDataLoader (fast_data: False)
    return {"generator": generator.get_state()} if isinstance(generator, torch.Generator) else None


def set_loader_state(train_data, state):
    if isinstance(train_data, DCRTrainDataLoader):
        train_data.load_state_dict(state)
    else:
        train_data.generator.set_state(state["generator"])


def fuse_optimizer_groups(optimizer, sparse_ids):
    """On a CPU, torch's fused Adagrad/Adam/AdamW/SGD update (one kernel per parameter instead of five or so)
    for every parameter group without sparse gradients; the update is the same up to rounding."""
    if not isinstance(optimizer, (torch.optim.Adagrad, torch.optim.Adam, torch.optim.AdamW, torch.optim.SGD)):
        return
    for group in optimizer.param_groups:
        if group["params"] and not any(id(p) in sparse_ids for p in group["params"]):
            group["fused"], group["foreach"] = True, False


def _plain_result(result):
    """A RecBole result dict as plain floats (numpy scalars are not weights-only loadable)."""
    return None if result is None else {str(key): float(value) for key, value in result.items()}


def add_losses(total, losses, on_host=True):
    """Running per-epoch sum of a batch's loss (a float, or a tuple of parts), as RecBole reports it. Off the
    host (a GPU) the sums stay float64 device tensors, read once by :func:`host_losses`."""
    if on_host:
        values = tuple(part.item() for part in losses) if isinstance(losses, tuple) else losses.item()
    else:
        values = tuple(p.detach().double() for p in losses) if isinstance(losses, tuple) else losses.detach().double()
    if total is None:
        return values
    return tuple(map(sum, zip(total, values))) if isinstance(values, tuple) else total + values


def host_losses(total):
    """``add_losses``' sums as floats."""
    if isinstance(total, tuple):
        return tuple(float(part) for part in total)
    return float(total) if torch.is_tensor(total) else total


def _is_bias(parameter_name):
    """Biases of linear layers and of the stacked experts (``biases.<layer>``)."""
    parts = parameter_name.split(".")
    return parts[-1] == "bias" or (len(parts) > 1 and parts[-2] == "biases")
