"""Every bit-equality assert on tensors in the tests says why it is exact.

Floating-point results differ across CPUs and kernels (summation order, vector width), so a test
must not claim bit-equality of float kernel outputs; it compares them with a tolerance. Where
bit-equality really is the claim (the same deterministic code on the same input, copied values,
integers, exact zeros), the line of the assert or the line before it carries a comment with the
word "exact" that says why.
"""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parent
CALL = "torch." + "equal("  # spelled in two parts so that this file does not match itself


def unjustified(text: str) -> list[int]:
    """Line numbers (1-based) that call the bit-equality function without an "exact" comment."""
    lines = text.splitlines()
    found = []
    for number, line in enumerate(lines, start=1):
        if CALL not in line:
            continue
        comment = line.split("#", 1)[1] if "#" in line else ""
        previous = lines[number - 2].strip() if number > 1 else ""
        if "exact" in comment.lower() or (previous.startswith("#") and "exact" in previous.lower()):
            continue
        found.append(number)
    return found


def test_the_check_tells_justified_from_unjustified_lines() -> None:
    text = "\n".join(
        [
            f"assert {CALL}a, b)",
            f"assert {CALL}a, b)  # exact: copied values",
            "# exact: same code, same input",
            f"assert {CALL}a, b)",
            f"assert {CALL}a, b)  # rounding",
        ]
    )
    assert unjustified(text) == [1, 5]


def test_every_tensor_bit_equality_in_the_tests_is_justified() -> None:
    files = sorted(TESTS.rglob("*.py"))
    assert len(files) > 10
    offenders = [
        f"{path.relative_to(TESTS)}:{number}" for path in files for number in unjustified(path.read_text(encoding="utf-8"))
    ]
    assert not offenders, (
        f"{CALL.rstrip('(')} on float results is bit-equality, which differs across CPUs: compare with "
        "torch.testing.assert_close and a tolerance, or say why the values are exact in a comment "
        "containing 'exact' on the same line or the line before: " + ", ".join(offenders)
    )
