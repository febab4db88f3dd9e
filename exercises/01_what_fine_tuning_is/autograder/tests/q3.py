from otter.test_files import test_case

OK_FORMAT = False

name = "q3"
points = 2

@test_case(points=None, hidden=False)
def test_bus_or_van_is_a_fraction(env):
    from ftlab.checks import expect_defined, expect_in_range
    value = expect_defined('bus_or_van', env)
    expect_in_range(value, 0.0, 1.0, 'bus_or_van', hint='A fraction, not a count or a %.')

@test_case(points=None, hidden=True)
def test_bus_or_van_value(env):
    import numpy as np
    from ftlab import CAR_MODEL_CLASSES, load_car_model, vehicles
    from ftlab.checks import expect_close, expect_defined
    trucks, _ = vehicles.make_images(['truck'], n_per_class=100, seed=42)
    said = load_car_model().predict(trucks, verbose=0).argmax(axis=1)
    expected = float(np.mean([CAR_MODEL_CLASSES[k] in ('bus', 'van') for k in said]))
    expect_close(expect_defined('bus_or_van', env), expected, 'bus_or_van', tol=0.011)

