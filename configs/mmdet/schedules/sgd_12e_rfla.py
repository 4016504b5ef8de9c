# VisDrone2019 / AI-TOD / DOTA schedule, following RFLA (P 4.1): SGD lr 0.005, momentum 0.9,
# weight decay 1e-4, 12 epochs, decayed x0.1 at epochs 8 and 11. Warm-up: 500 linear iterations
# as in the authors' code (the paper states none; RFLA's own code uses 5000).
_base_ = './sgd_20e_droneswarms.py'

max_epochs = 12
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[8, 11],
         gamma=0.1),
]
optim_wrapper = dict(optimizer=dict(lr=0.005))
