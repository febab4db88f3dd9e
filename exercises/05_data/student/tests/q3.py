from otter.test_files import test_case

OK_FORMAT = False

name = "q3"
points = 2

@test_case(points=None, hidden=False)
def test_early_stop_is_configured(env):
    import keras
    from ftlab.checks import expect_defined, expect_type
    callback = expect_type(expect_defined('early_stop', env), keras.callbacks.EarlyStopping, 'early_stop')
    assert callback.restore_best_weights, 'set restore_best_weights=True'
    assert callback.monitor == 'val_loss', f"monitor is {callback.monitor!r}, not 'val_loss'"

