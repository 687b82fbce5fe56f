"""Assertions that several test modules share."""


def assert_one_line_error(result, *fragments):
    """The CLI's contract for bad input: exit code 2, one `Error:` line, no traceback."""
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    for fragment in fragments:
        assert fragment in lines[0]
