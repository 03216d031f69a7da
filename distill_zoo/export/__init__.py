"""``python -m distill_zoo.export RUN_DIR --format hf|onnx|int8``: a finished run's student as a
deployable artefact (Hugging Face folder, fp32 ONNX, int8 ONNX) with a model card, its dev score
and CPU latency measured again on the artefact itself. See :mod:`distill_zoo.export.cli`."""
