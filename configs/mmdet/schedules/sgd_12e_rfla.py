# VisDrone2019 / AI-TOD / DOTA schedule, "strictly following RFLA" (paper 4.1): SGD lr 0.005,
# momentum 0.9, weight decay 1e-4, 12 epochs, decayed x0.1 at epochs 8 and 11 (paper 4.1).
# Warm-up: 500 linear iterations, what the authors ran: their mmengine schedule
# (Hiyuur/SR-TOD@1c4d93b:configs/_base_/schedules/schedule_1x.py, LinearLR end=500). The
# `lr_config` with warmup_iters=5000 in their VisDrone/AI-TOD model configs (from RFLA's mmdet-2
# configs, Chasel-Tsui/mmdet-rfla@198977b:configs/rfla/aitod_cascade_r50_rfla_kld_1x.py) is an
# mmdet-2 key that mmengine's Runner does not read. Decision: configs/experiments.yaml.
_base_ = './sgd_20e_droneswarms.py'

max_epochs = 12
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[8, 11],
         gamma=0.1),
]
optim_wrapper = dict(optimizer=dict(lr=0.005))
