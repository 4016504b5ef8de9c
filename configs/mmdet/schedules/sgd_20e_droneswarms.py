# DroneSwarms schedule (paper 4.1): SGD lr 0.0025, momentum 0.9, weight decay 1e-4, 20 epochs.
# Decay at epochs 16 and 19 and a 500-iteration linear warm-up: the authors' schedule (paper
# silent; Hiyuur/SR-TOD@1c4d93b:configs/_base_/schedules/schedule_20e.py).
max_epochs = 20
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=max_epochs)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[16, 19],
         gamma=0.1),
]
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.0025, momentum=0.9, weight_decay=0.0001))
# The lr is not scaled with the batch (auto_scale_lr off, as in the authors' schedules).
auto_scale_lr = dict(enable=False, base_batch_size=2)
