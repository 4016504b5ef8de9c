# Runtime shared by every run: mmdet's default runtime. The srtod plugin import
# (custom_imports) comes with each model config (configs/mmdet/models/), one per run.
_base_ = 'mmdet::_base_/default_runtime.py'

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    # One checkpoint per epoch, the last 2 kept: a rerun after an interruption resumes from it.
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=2))
log_processor = dict(type='LogProcessor', window_size=50, by_epoch=True)
# resolve_config sets randomness.seed from the seed of the run.
randomness = dict(seed=0, deterministic=False)
# Log DGFE's threshold t every iteration (train/srtod/threshold; nothing for models without one).
custom_hooks = [dict(type='SRTODThresholdHook')]
