"""``tinyconv grade`` and ``tinyconv coursework`` end to end, as an instructor runs them: the
real subprocess grader on a correct solution, and on submissions that hang, segfault, run out of
memory, fail to import, modify their inputs or return a view (each a clear failure and a normal
exit); the ``--json`` output validated against Gradescope's schema."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tinyconv.coursework import assignments, find_submission, load_assignment, write_assignment

SOLUTIONS = Path(__file__).parent / "solutions"

#: Gradescope's results.json (the fields GitHub Classroom's reporters read too), as JSON schema.
GRADESCOPE_SCHEMA = {
    "type": "object",
    "required": ["tests"],
    "properties": {
        "score": {"type": "number", "minimum": 0},
        "execution_time": {"type": "number", "minimum": 0},
        "output": {"type": "string"},
        "visibility": {"enum": ["hidden", "after_due_date", "after_published", "visible"]},
        "tests": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["name", "score", "max_score", "output"],
                "properties": {
                    "name": {"type": "string", "minLength": 1},
                    "score": {"type": "number", "minimum": 0},
                    "max_score": {"type": "number", "minimum": 0},
                    "status": {"enum": ["passed", "failed"]},
                    "output": {"type": "string"},
                    "visibility": {"enum": ["hidden", "after_due_date", "after_published",
                                            "visible"]},
                },
                "additionalProperties": False,
            },
        },
    },
    "additionalProperties": False,
}


def tinyconv(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "tinyconv", *args], capture_output=True,
                          text=True, timeout=timeout)


def submission(tmp_path, body, assignment="conv-forward"):
    path = tmp_path / "student.py"
    path.write_text(f"# tinyconv assignment: {assignment}\nimport numpy as np\n"
                    + textwrap.dedent(body))
    return path


@pytest.fixture(scope="module")
def correct_grade(tmp_path_factory):
    out = tmp_path_factory.mktemp("grade") / "results.json"
    run = tinyconv("grade", str(SOLUTIONS / "conv_forward.py"), "--json", str(out))
    return run, json.loads(out.read_text())


def test_a_correct_solution_passes_with_exit_status_0(correct_grade):
    run, results = correct_grade
    assert run.returncode == 0, run.stdout + run.stderr
    assert "every property passed" in run.stdout
    names = [test["name"] for test in results["tests"]]
    assert names == load_assignment("conv-forward").property_names()
    assert results["score"] == sum(t["max_score"] for t in results["tests"]) == 12


def test_the_json_is_gradescopes_format(correct_grade):
    jsonschema = pytest.importorskip("jsonschema")
    _, results = correct_grade
    jsonschema.validate(results, GRADESCOPE_SCHEMA)
    with pytest.raises(jsonschema.ValidationError):  # the schema can fail
        jsonschema.validate({"tests": [{"name": "x", "score": 1}]}, GRADESCOPE_SCHEMA)


def test_a_failing_submission_gets_its_counterexample_and_json(tmp_path):
    path = submission(tmp_path, """
        from tinyconv.kernels import reference

        def conv2d_forward(x, w, stride, padding, dilation, groups):
            return reference.conv2d_forward(x, w, stride, padding, dilation, groups) + 1
        """)
    out = tmp_path / "results.json"
    run = tinyconv("grade", str(path), "--only", "conv2d_forward", "--json", str(out))
    assert run.returncode == 1
    assert "FAIL    conv2d_forward: Y = X ⋆ W  [0/4]" in run.stdout
    assert "every element off by the same shift (+1)" in run.stdout
    assert "smallest failing call (seed 0" in run.stdout
    assert "check_identity" not in run.stdout and "reproduce_failure" not in run.stdout
    results = json.loads(out.read_text())
    assert results["tests"][0]["status"] == "failed" and results["score"] == 0
    assert "off by the same shift" in results["tests"][0]["output"]


def test_a_hanging_submission_times_out_and_the_grader_goes_on(tmp_path):
    path = submission(tmp_path, """
        def conv2d_forward(x, w, stride, padding, dilation, groups):
            while True:
                pass
        """)
    run = tinyconv("grade", str(path), "--only", "conv2d_forward", "contract: conv2d_forward",
                   "--timeout", "3")
    assert run.returncode == 1
    assert run.stdout.count("TIMEOUT") == 2 and "no answer within 3 s" in run.stdout


def test_a_segfault_fails_that_property_with_the_students_line(tmp_path):
    path = submission(tmp_path, """
        import ctypes

        def conv2d_forward(x, w, stride, padding, dilation, groups):
            return ctypes.string_at(0)  # reads address 0: SIGSEGV
        """)
    run = tinyconv("grade", str(path), "--only", "conv2d_forward")
    assert run.returncode == 1
    assert "CRASH" in run.stdout and "SIGSEGV" in run.stdout
    assert "student.py" in run.stdout and "in conv2d_forward" in run.stdout


def test_running_out_of_memory_is_a_clear_failure(tmp_path):
    path = submission(tmp_path, """
        def conv2d_forward(x, w, stride, padding, dilation, groups):
            return np.ones((1 << 40,), dtype=np.uint8)
        """)
    run = tinyconv("grade", str(path), "--only", "conv2d_forward", "--memory", "1500")
    assert run.returncode == 1
    assert "MemoryError" in run.stdout


def test_input_mutation_and_aliasing_are_reported_with_a_normal_exit(tmp_path):
    mutating = submission(tmp_path, """
        from tinyconv.kernels import reference

        def conv2d_forward(x, w, stride, padding, dilation, groups):
            y = reference.conv2d_forward(x, w, stride, padding, dilation, groups)
            x *= 0
            return y
        """)
    run = tinyconv("grade", str(mutating), "--only", "contract: conv2d_forward")
    assert run.returncode == 1 and "modified its argument 'x' in place" in run.stdout
    (tmp_path / "pool").mkdir()
    aliasing = submission(tmp_path / "pool", """
        def max_pool2d_forward(x, kernel, stride, padding, dilation, ceil_mode):
            raise NotImplementedError

        def max_pool2d_backward(grad_y, indices, x_shape):
            raise NotImplementedError

        def avg_pool2d_forward(x, kernel, stride, padding, ceil_mode, count_include_pad):
            return x  # a 1×1 window "changes nothing"

        def avg_pool2d_backward(grad_y, x_shape, kernel, stride, padding, ceil_mode,
                                count_include_pad):
            raise NotImplementedError
        """, assignment="pooling")
    run = tinyconv("grade", str(aliasing), "--only", "contract: avg_pool2d_forward",
                   "contract: max_pool2d_forward")
    assert run.returncode == 1
    assert "shares memory with its argument 'x'" in run.stdout
    assert "not written yet: NotImplementedError" in run.stdout


def test_a_submission_that_does_not_import_is_reported(tmp_path):
    path = submission(tmp_path, """
        def conv2d_forward(x, w, stride, padding, dilation, groups)
            return x
        """)
    run = tinyconv("grade", str(path), "--only", "conv2d_forward")
    assert run.returncode == 1 and "importing student.py failed" in run.stdout
    assert "SyntaxError" in run.stdout


def test_coursework_list_and_new(tmp_path):
    run = tinyconv("coursework", "list")
    assert run.returncode == 0
    for name in assignments():
        assert name in run.stdout
    run = tinyconv("coursework", "new", "pooling", str(tmp_path / "hw3"))
    assert run.returncode == 0
    assert (tmp_path / "hw3" / "pooling.py").is_file()
    assert (tmp_path / "hw3" / "README.md").read_text().startswith("# Assignment 3")
    spec, path = find_submission(tmp_path / "hw3")
    assert spec.name == "pooling" and path.name == "pooling.py"
    again = tinyconv("coursework", "new", "pooling", str(tmp_path / "hw3"))
    assert again.returncode == 2 and "already exist" in again.stderr


def test_every_assignment_is_complete(tmp_path):
    shipped = assignments()
    assert len(shipped) >= 7
    for name, assignment in shipped.items():
        written = write_assignment(name, tmp_path / name)
        source = written[0].read_text()
        if written[0].suffix == ".cu":
            assert source.startswith(f"// tinyconv assignment: {name}\n")
            for function in assignment.functions:
                assert f"__device__ void {function}(" in source
                assert f'extern "C" __global__ void {function}_f32(' in source
        else:
            assert source.startswith(f"# tinyconv assignment: {name}\n")
            compile(source, str(written[0]), "exec")
            assert "NotImplementedError" in source
            for function in assignment.functions:
                assert f"def {function}(" in source
        assert assignment.property_names() and all(assignment.weight(p) >= 0
                                                   for p in assignment.property_names())


def test_an_unknown_assignment_or_property_is_a_usage_error(tmp_path):
    run = tinyconv("coursework", "new", "no-such-thing", str(tmp_path))
    assert run.returncode == 2 and "the assignments are" in run.stderr
    run = tinyconv("grade", str(SOLUTIONS / "conv_forward.py"), "--only", "bogus")
    assert run.returncode == 2 and "not properties of conv-forward" in run.stderr


@pytest.fixture(scope="module")
def cuda_solution(tmp_path_factory):
    """tinyconv's own conv2d.cu handed in as the solution of assignment 6."""
    from tinyconv.kernels.cuda.runtime import KERNEL_DIR

    folder = tmp_path_factory.mktemp("hw6")
    source = (KERNEL_DIR / "conv2d.cu").read_text()
    (folder / "conv2d_kernels.cu").write_text("// tinyconv assignment: cuda-kernels\n" + source)
    return folder / "conv2d_kernels.cu"


def test_the_cuda_assignment_passes_a_correct_kernel_file(cuda_solution):
    pytest.importorskip("tinyconv.kernels.cuda.emulator")
    run = tinyconv("grade", str(cuda_solution.parent))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "score 15/15" in run.stdout


def test_the_cuda_assignment_catches_a_kernel_bug_and_a_compile_error(cuda_solution, tmp_path):
    source = cuda_solution.read_text()
    wrong_stride = source.replace("const int col = ow * s.sw - s.pad_left + kj * s.dw;",
                                  "const int col = ow * s.sh - s.pad_left + kj * s.dw;", 1)
    assert wrong_stride != source
    path = tmp_path / "conv2d_kernels.cu"
    path.write_text(wrong_stride)
    run = tinyconv("grade", str(path), "--only", "conv2d_forward")
    assert run.returncode == 1 and "function at fault: conv2d_forward" in run.stdout
    assert "wrong only when stride > 1" in run.stdout
    path.write_text(source.replace("T acc = 0;", "T acc = 0", 1))
    run = tinyconv("grade", str(path), "--only", "conv2d_forward")
    assert run.returncode == 1 and "importing conv2d_kernels.cu failed" in run.stdout
    assert "error" in run.stdout
