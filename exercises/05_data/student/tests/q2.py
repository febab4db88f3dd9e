from otter.test_files import test_case

OK_FORMAT = False

name = "q2"
points = 2

@test_case(points=None, hidden=False)
def test_augment_changes_pictures_only_in_training(env):
    import keras
    import numpy as np
    from ftlab.checks import expect_defined, expect_type
    augment = expect_type(expect_defined('augment', env), keras.Sequential, 'augment')
    pictures = np.random.default_rng(0).uniform(0, 255, (4, 32, 32, 3)).astype('float32')
    same = np.asarray(augment(pictures, training=False))
    assert same.shape == pictures.shape, f'`augment` changed the shape to {same.shape}'
    assert np.allclose(same, pictures), '`augment` should not change pictures outside training'
    changed = np.asarray(augment(pictures, training=True))
    assert not np.allclose(changed, pictures), '`augment` did not change the pictures'

