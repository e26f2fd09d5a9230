"""Train and test a model in one call, RecBole style (without importing ``recbole.quick_start``, which needs ray)."""

import sys
from logging import getLogger

from recbole.utils import get_environment, init_logger, init_seed, set_color

from recbole_dcr.config import Config
from recbole_dcr.utils import create_dataset, data_preparation, get_model, get_trainer


def train_and_test(config, saved=True, verbose=True, show_progress=False):
    """The whole run for a built Config: data, model, training, test.

    Returns ``(result dict, trainer, test_data)``; the trainer holds the model with its best weights
    (when ``saved``), for callers that go on using it.
    """
    logger = getLogger()
    dataset = create_dataset(config)
    if verbose:
        logger.info(dataset)
    train_data, valid_data, test_data = data_preparation(config, dataset)

    init_seed(config["seed"] + config["local_rank"], config["reproducibility"])
    model = get_model(config["model"])(config, train_data._dataset).to(config["device"])
    if verbose:
        logger.info(model)
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)

    best_valid_score, best_valid_result = trainer.fit(
        train_data, valid_data, verbose=verbose, saved=saved, show_progress=show_progress
    )
    test_result = trainer.evaluate(test_data, load_best_model=saved, show_progress=show_progress)
    result = {
        "best_valid_score": best_valid_score,
        "valid_score_bigger": config["valid_metric_bigger"],
        "best_valid_result": best_valid_result,
        "test_result": test_result,
    }
    return result, trainer, test_data


def run_recbole_dcr(model=None, dataset=None, config_file_list=None, config_dict=None, saved=True):
    """Train ``model`` on ``dataset``, evaluate on the test split, and return RecBole's result dict.

    Returns ``{'best_valid_score', 'valid_score_bigger', 'best_valid_result', 'test_result'}``.
    """
    config = Config(model=model, dataset=dataset, config_file_list=config_file_list, config_dict=config_dict)
    init_seed(config["seed"], config["reproducibility"])
    init_logger(config)
    logger = getLogger()
    logger.info(sys.argv)
    logger.info(config)

    result, _, _ = train_and_test(config, saved=saved, show_progress=config["show_progress"])

    logger.info("The running environment of this training is as follows:\n" + get_environment(config).draw())
    logger.info(set_color("best valid ", "yellow") + f": {result['best_valid_result']}")
    logger.info(set_color("test result", "yellow") + f": {result['test_result']}")
    return result


def objective_function(config_dict=None, config_file_list=None, saved=True):
    """Objective for RecBole's ``HyperTuning``: one training run, quiet, returning the result dict."""
    config = Config(config_dict=config_dict, config_file_list=config_file_list)
    init_seed(config["seed"], config["reproducibility"])
    init_logger(config)
    for handler in getLogger().handlers:
        handler.setLevel("ERROR")
    result, _, _ = train_and_test(config, saved=saved, verbose=False)
    return {"model": config["model"], **result}
