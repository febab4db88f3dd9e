from otter.test_files import test_case

OK_FORMAT = False

name = "q3"
points = 2

@test_case(points=None, hidden=False)
def test_bus_or_van_is_a_fraction(env):
    from ftlab.checks import expect_defined, expect_in_range
    value = expect_defined('bus_or_van', env)
    expect_in_range(value, 0.0, 1.0, 'bus_or_van', hint='A fraction, not a count or a %.')

