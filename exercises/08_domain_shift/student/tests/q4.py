from otter.test_files import test_case

OK_FORMAT = False

name = "q4"
points = 1

@test_case(points=None, hidden=False)
def test_q4_answer_is_a_letter(env):
    from ftlab.checks import expect_defined, expect_type
    answer = expect_type(expect_defined('q4_answer', env), str, 'q4_answer')
    assert answer.strip().lower() in {'a', 'b', 'c', 'd'}, f'`q4_answer` is {answer!r}; set it to one of "a", "b", "c", "d"'

