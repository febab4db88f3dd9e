from otter.test_files import test_case

OK_FORMAT = False

name = "q1"
points = 2

@test_case(points=None, hidden=False)
def test_best_epoch_returns_an_int(env):
    import types
    from ftlab.checks import call, expect_function, expect_type
    best_epoch = expect_function('best_epoch', env, params=1)
    history = types.SimpleNamespace(history={'loss': [3, 2, 1], 'val_loss': [3.0, 1.0, 2.0]})
    result = expect_type(call(best_epoch, history), int, 'best_epoch(history)')
    assert result == 1, f'best_epoch gave {result} for val_loss [3.0, 1.0, 2.0]; expected 1'

