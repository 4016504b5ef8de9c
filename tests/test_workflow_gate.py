"""A dataset that fails validation stops the workflow before any training starts."""
import json

import pytest

from test_workflow_dag import SNAKEMAKE, snakemake


@pytest.mark.skipif(not SNAKEMAKE.exists(), reason='snakemake not installed')
def test_invalid_dataset_stops_before_training(tmp_path):
    data = tmp_path / 'data' / 'tiny' / 'droneswarms'
    (data / 'images').mkdir(parents=True)
    # a box that leaves its 64x64 image, and an image file that does not exist
    bad = {'images': [{'id': 1, 'file_name': 'missing.png', 'width': 64, 'height': 64}],
           'annotations': [{'id': 1, 'image_id': 1, 'category_id': 1, 'bbox': [60, 60, 10, 10],
                            'area': 100, 'iscrowd': 0}],
           'categories': [{'id': 1, 'name': 'drone'}]}
    for split in ('train', 'test'):  # present, so the synthetic data is not re-made
        (data / f'{split}.json').write_text(json.dumps(bad))
    proc = snakemake(tmp_path, '--cores', '2', '--config', 'tier=tiny', 'tables=[T4]')
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert 'Error in rule srtod_validate' in out
    assert 'problem(s) in this COCO file' in out  # the validation message, shown with the log
    results = tmp_path / 'results' / 'tiny'
    assert not (results / 'droneswarms').exists()  # no training started, no run folder
    assert not (results / 'data' / 'ready.json').exists()
    assert not (results / 'data' / 'droneswarms.validation.txt').exists()
