from otter.test_files import test_case

OK_FORMAT = False

name = "q3"
points = 2

@test_case(points=None, hidden=False)
def test_mixed_holds_night_then_day(env):
    import numpy as np
    from ftlab.checks import expect_defined, expect_shape, expect_type
    mixed = expect_type(expect_defined('mixed', env), tuple, 'mixed')
    assert len(mixed) == 2, f'`mixed` should be (images, labels), it has {len(mixed)} items'
    images, labels = mixed
    expect_shape(np.asarray(images), (60, 32, 32, 3), 'mixed[0]')
    expect_shape(np.asarray(labels), (60,), 'mixed[1]')

