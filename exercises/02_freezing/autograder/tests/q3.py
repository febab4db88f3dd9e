from otter.test_files import test_case

OK_FORMAT = False

name = "q3"
points = 3

@test_case(points=None, hidden=False)
def test_stage2_trains_the_top_blocks_only(env):
    from ftlab import trainable_report
    from ftlab.checks import expect_defined, expect_model
    stage2 = expect_model(expect_defined('stage2', env), 'stage2')
    rows = [r for r in trainable_report(stage2).rows if r.params > 0]
    bn = [r.name for r in rows if r.type == 'BatchNormalization' and r.trainable]
    assert not bn, f'BatchNormalization layers would train: {bn}. Use ftlab.unfreeze.'
    top = [r for r in rows if r.type == 'Conv2D' and ('block3' in r.name or 'block4' in r.name)]
    frozen_top = [r.name for r in top if not r.trainable]
    assert top and (not frozen_top), f'these layers should train but are frozen: {frozen_top}'
    low = [r.name for r in rows if r.trainable and ('block1' in r.name or 'block2' in r.name)]
    assert not low, f'blocks 1 and 2 should stay frozen, but these train: {low}'

@test_case(points=None, hidden=True)
def test_stage2_kept_its_statistics_and_trained(env):
    import numpy as np
    from ftlab.checks import expect_defined, expect_model
    stage2 = expect_model(expect_defined('stage2', env), 'stage2')
    before = expect_defined('bn_before', env)
    after = [v.numpy() for v in stage2.non_trainable_weights]
    assert len(before) == len(after), 'run the whole cell of question 3 again'
    moved = [v.path for v, b, a in zip(stage2.non_trainable_weights, before, after) if 'moving' in v.path and (not np.allclose(a, b))]
    assert not moved, f'fine-tuning changed BatchNormalization statistics: {moved}'
    kernel = stage2.get_layer('car_backbone').get_layer('block4_conv2').kernel.numpy()
    kernel_before = expect_defined('kernel_before', env)
    assert not np.allclose(kernel, kernel_before), 'block4_conv2 did not train'

