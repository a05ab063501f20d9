"""A trained DIET model loaded without a training step: the server's start a third as long.

Rasa 3.6 builds a loaded model's variables by training it for one step on one example and
only then reads the trained weights over them. That step traces the whole training graph:
48 of the 60 s ``Agent.load`` took for the tutor's model on two cores. TensorFlow checkpoints
restore a variable when it is created, so here the weights are read first and the one
prediction Rasa makes anyway to trace the inference graph creates (and so restores) every
variable prediction uses: 16 s, with the same intent ranking, confidences and entities on
every held-out message (``tests/test_rasa_patches.py`` compares it with Rasa's own load).
When a variable of the model finds no weights (a checkpoint of another shape), when a model
is loaded to be trained further, or without an example to predict, Rasa's own load runs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from bot.rasa_patches import Patch

logger = logging.getLogger(__name__)


def _restore_on_prediction(original: Callable[..., Any]) -> Callable[..., Any]:
    import tensorflow as tf
    from rasa.utils.tensorflow.constants import LEARNING_RATE, RUN_EAGERLY

    def load(cls, model_file_name, model_data_example, predict_data_example=None, finetune_mode=False,
             *args: Any, **kwargs: Any):
        if finetune_mode or predict_data_example is None:
            return original(cls, model_file_name, model_data_example, predict_data_example, finetune_mode,
                            *args, **kwargs)
        config = kwargs.get("config", {})
        model = cls(*args, **kwargs)
        model.compile(optimizer=tf.keras.optimizers.Adam(config.get(LEARNING_RATE, 0.001)),
                      run_eagerly=config.get(RUN_EAGERLY))
        status = model.load_weights(model_file_name)
        model.run_inference(predict_data_example)
        try:
            status.assert_existing_objects_matched()
        except AssertionError as error:
            logger.warning("%s: weights not matched without a training step (%s); loading as Rasa does",
                           model_file_name, str(error).splitlines()[0])
            return original(cls, model_file_name, model_data_example, predict_data_example, finetune_mode,
                            *args, **kwargs)
        status.expect_partial()  # the optimizer's training state is in the checkpoint and not needed
        return model

    return load


PATCHES = [
    Patch(
        "model_load_without_training_step",
        "rasa.utils.tensorflow.models:RasaModel.load",
        "84fd81c0fdd01a80",
        _restore_on_prediction,
        reads=(("rasa.utils.tensorflow.models:RasaModel.run_inference", "e628d03665d82d9d"),),
    )
]
