# ATSS + DyHead (Dai et al., CVPR 2021), mmdet's atss_r50_fpn_dyhead_1x_coco: FPN then 6 DyHead
# blocks, and an ATSS head without its own conv tower. Model only.
_base_ = './atss.py'

model = dict(
    neck=[
        dict(type='FPN', in_channels=[256, 512, 1024, 2048], out_channels=256, start_level=1,
             add_extra_convs='on_output', num_outs=5),
        dict(type='DyHead', in_channels=256, out_channels=256, num_blocks=6),
    ],
    bbox_head=dict(stacked_convs=0))
