from otter.test_files import test_case

OK_FORMAT = False

name = "q2"
points = 2

@test_case(points=None, hidden=False)
def test_frozen_layers_returns_a_list(env):
    import keras
    from ftlab.checks import call, expect_function, expect_type
    frozen_layers = expect_function('frozen_layers', env, params=1)
    small = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name='a')])
    result = call(frozen_layers, small, name='frozen_layers')
    expect_type(result, list, 'frozen_layers(model)')
    assert result == [], f'nothing is frozen in a new model, but frozen_layers says {result}'

