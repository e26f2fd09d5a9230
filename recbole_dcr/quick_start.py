"""The one run recipe: Config -> seed -> logger -> data -> model -> training -> test.

Every entry point (the ``recbole-dcr`` command, ``HyperTuning``'s objective, Ray trials, the
experiments, analyses and benchmarks) goes through :func:`configure` and :func:`train`, so a run
started anywhere is the same run.  RecBole's ``recbole.quick_start`` is not imported: it needs ray.
"""

import os
from collections import namedtuple
from logging import getLogger

import torch
import torch.distributed as dist
from recbole.utils import get_environment, init_logger, init_seed, set_color

from recbole_dcr.checkpoint import ResumeError
from recbole_dcr.config import Config
from recbole_dcr.data import create_dataset, data_preparation
from recbole_dcr.registry import get_model, get_trainer, refused_settings
from recbole_dcr.trainer import check_resumable

Run = namedtuple("Run", "config result trainer test_data")


def configure(model=None, dataset=None, config_file_list=None, config_dict=None, command_line=None, quiet=False):
    """A seeded Config with RecBole's logger set up.

    ``command_line``: ``--key=value`` overrides (``None``: ``sys.argv``, as RecBole). ``quiet``: the
    logger shows errors only (the run still logs to its file).
    """
    config = Config(model=model, dataset=dataset, config_file_list=config_file_list, config_dict=config_dict,
                    command_line=command_line)
    init_seed(config["seed"], config["reproducibility"])
    init_logger(config)
    if quiet:
        for handler in getLogger().handlers:
            handler.setLevel("ERROR")
    return config


def build_run(config, verbose=False):
    """Data and an untrained model for a built Config: ``(trainer, train_data, valid_data, test_data)``."""
    logger = getLogger()
    dataset = create_dataset(config)
    if verbose:
        logger.info(dataset)
    train_data, valid_data, test_data = data_preparation(config, dataset)

    init_seed(config["seed"] + config["local_rank"], config["reproducibility"])
    # Tiny weights (the N(0, 1e-4) initialisation) shrunk further by L2 become subnormal floats, which the
    # CPU multiplies 20-60x slower; flushed to zero, they move the results by rounding only.
    torch.set_flush_denormal(bool(config["flush_denormal"]))
    with refused_settings(config["model"]):
        model = get_model(config["model"])(config, train_data._dataset).to(config["device"])
    if verbose:
        logger.info(model)
    with refused_settings(f"{config['model']}'s trainer"):
        trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)
    return trainer, train_data, valid_data, test_data


def train_and_test(config, saved=True, verbose=True, show_progress=False, callback_fn=None, resume=None):
    """The whole run for a built Config: data, model, training, test.

    ``callback_fn(epoch, valid_score)`` is called after each validation (RecBole's hook).
    ``resume``: a training state file (``<model file>.state.pt``) or a checkpoint folder (its newest
    unfinished state of this model and dataset): the killed run it comes from goes on, with the same
    config, to the figures it would have reached (:meth:`~recbole_dcr.trainer.DCRTrainer.resume_training`).
    Returns ``(result dict, trainer, test_data)``; the trainer holds the model with its best weights
    (when ``saved``), for callers that go on using it.
    """
    if resume is not None:
        if not saved:
            raise ResumeError("resume continues a run that saves its checkpoints: it needs saved=True")
        resume = check_resumable(config, resume)  # refused before the data is loaded
    trainer, train_data, valid_data, test_data = build_run(config, verbose)
    if resume is not None:
        trainer.resume_training(resume)
    best_valid_score, best_valid_result = trainer.fit(
        train_data, valid_data, verbose=verbose, saved=saved, show_progress=show_progress, callback_fn=callback_fn
    )
    test_result = trainer.evaluate(test_data, load_best_model=saved, show_progress=show_progress)
    result = {
        "best_valid_score": best_valid_score,
        "valid_score_bigger": config["valid_metric_bigger"],
        "best_valid_result": best_valid_result,
        "test_result": test_result,
    }
    return result, trainer, test_data


def train(model=None, dataset=None, config_file_list=None, config_dict=None, command_line=None, saved=True,
          quiet=False, callback_fn=None, resume=None):
    """:func:`configure`, then :func:`train_and_test`: a :class:`Run` of (config, result, trainer, test_data).

    ``resume``: a training state file or checkpoint folder to continue (see :func:`train_and_test`).
    """
    config = configure(model, dataset, config_file_list, config_dict, command_line, quiet)
    result, trainer, test_data = train_and_test(
        config, saved=saved, verbose=not quiet, show_progress=config["show_progress"], callback_fn=callback_fn,
        resume=resume,
    )
    return Run(config, result, trainer, test_data)


def run_recbole_dcr(model=None, dataset=None, config_file_list=None, config_dict=None, saved=True, queue=None,
                    command_line=None, resume=None):
    """Train ``model`` on ``dataset``, evaluate on the test split, and return RecBole's result dict.

    Returns ``{'best_valid_score', 'valid_score_bigger', 'best_valid_result', 'test_result'}``.
    In a data-parallel run (``config_dict`` holding ``local_rank``), rank 0 also puts it in ``queue``.
    ``resume``: a training state file or checkpoint folder to continue (see :func:`train_and_test`).
    """
    config = configure(model, dataset, config_file_list, config_dict, command_line)
    logger = getLogger()
    logger.info(config)
    result, _, _ = train_and_test(config, saved=saved, show_progress=config["show_progress"], resume=resume)
    logger.info("The running environment of this training is as follows:\n" + get_environment(config).draw())
    logger.info(set_color("best valid ", "yellow") + f": {result['best_valid_result']}")
    logger.info(set_color("test result", "yellow") + f": {result['test_result']}")
    if not config["single_spec"]:
        dist.destroy_process_group()
        if config["local_rank"] == 0 and queue is not None:
            queue.put(result)
    return result


def run(model=None, dataset=None, config_file_list=None, config_dict=None, saved=True,
        nproc=1, world_size=-1, ip="localhost", port="5678", group_offset=0, command_line=None, resume=None):
    """RecBole's ``run``: one process, or ``nproc`` data-parallel processes on this machine.

    ``world_size`` counts the processes of all machines and ``group_offset`` is the rank of this
    machine's first one (RecBole's flags). On CPU the processes talk through gloo.
    ``resume``: a training state file or checkpoint folder to continue (every process reads it).
    Returns the result dict (from rank 0 of this machine; ``None`` on other machines).
    """
    if nproc == 1 and world_size <= 0:
        return run_recbole_dcr(model, dataset, config_file_list, config_dict, saved, command_line=command_line,
                               resume=resume)
    import torch.multiprocessing as mp

    config_dict = dict(config_dict or {})
    # Done once here, as processes starting together race on them: generating a missing simulated
    # dataset, and the folders RecBole creates with exists-then-makedirs (init_logger's ./log/<model>,
    # the trainer's checkpoint_dir).
    config = Config(model=model, dataset=dataset, config_file_list=config_file_list, config_dict=config_dict,
                    command_line=command_line)
    create_dataset(config)
    for folder in (os.path.join("log", config["model"]), config["checkpoint_dir"]):
        os.makedirs(folder, exist_ok=True)
    config_dict.update(
        {"world_size": nproc if world_size <= 0 else world_size, "ip": ip, "port": port, "nproc": nproc,
         "offset": group_offset}
    )
    context = mp.get_context("spawn")
    queue = context.SimpleQueue()
    mp.spawn(_run_rank, args=(model, dataset, config_file_list, config_dict, saved, queue, command_line, resume),
             nprocs=nproc, join=True)
    return None if queue.empty() else queue.get()


def _run_rank(local_rank, model, dataset, config_file_list, config_dict, saved, queue, command_line, resume=None):
    run_recbole_dcr(model, dataset, config_file_list, {**config_dict, "local_rank": local_rank}, saved, queue,
                    command_line, resume)


def objective_function(config_dict=None, config_file_list=None, saved=True):
    """Objective for RecBole's ``HyperTuning``: one training run, quiet, returning the result dict."""
    run = train(config_dict=config_dict, config_file_list=config_file_list, saved=saved, quiet=True)
    return {"model": run.config["model"], **run.result}
