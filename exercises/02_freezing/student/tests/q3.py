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

