from otter.test_files import test_case

OK_FORMAT = False

name = "q3"
points = 2

@test_case(points=None, hidden=False)
def test_truck_accuracy_is_a_fraction(env):
    from ftlab.checks import expect_defined, expect_in_range
    expect_in_range(expect_defined('truck_accuracy', env), 0.0, 1.0, 'truck_accuracy')
    history = expect_defined('history', env)
    epochs = len(getattr(history, 'epoch', []))
    assert epochs == 15, f'`history` has {epochs} epochs, expected 15 (the return value of fit)'

