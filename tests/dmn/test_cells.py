"""FEEL unary tests and output expressions inside tables, Python cells, and cell errors."""

from __future__ import annotations

from datetime import date

import pytest
from dmn_builder import compile_one, decide, table_xml

from loanflow.engine.dmn import DecisionError, DmnProblems


@pytest.mark.parametrize(
    ("test", "type_ref", "matching", "not_matching"),
    [
        ("< 600", "number", [599, 0, -3.5], [600, 601]),
        (">= 0.35", "number", [0.35, 1], [0.34]),
        ("[18..60]", "number", [18, 60, 35], [17, 61]),
        ("]0..50000]", "number", [0.01, 50000], [0, 50000.01]),
        ("(0..10)", "number", [1, 9.9], [0, 10]),
        ('"A","B"', "string", ["A", "B"], ["C", "a"]),
        ('not("A","B")', "string", ["C"], ["A", "B"]),
        ("not(< 0)", "number", [0, 5], [-1]),
        ("-", "number", [1, None], []),
        ("null", None, [None], [0, ""]),
        ("true", "boolean", [True], [False]),
        ("1, 2, [5..6]", "number", [1, 2, 5.5], [3, 4]),
        ('< date("2030-01-01")', "date", [date(2029, 12, 31), "2020-05-01"], ["2030-01-01"]),
        ("? > 5 and ? < 10", "number", [6], [5, 10]),
        (">= min_score", "number", [650, 700], [649]),
        ("[lower..upper]", "number", [10, 20], [9, 21]),
    ],
)
def test_unary_test_forms(
    test: str, type_ref: str | None, matching: list[object], not_matching: list[object]
) -> None:
    xml = table_xml([([test], ['"hit"'])], inputs=[("x", type_ref)])
    base = {"min_score": 650, "lower": 10, "upper": 20}
    for value in matching:
        assert decide(xml, {**base, "x": value}) == {"result": "hit"}, value
    for value in not_matching:
        assert decide(xml, {**base, "x": value}) is None, value


def test_a_null_input_matches_no_comparison() -> None:
    xml = table_xml([(["< 600"], ['"low"']), (["-"], ['"unknown"'])], hit_policy="FIRST")
    assert decide(xml, {"x": None}) == {"result": "unknown"}


def test_output_expressions_compute_from_inputs() -> None:
    xml = table_xml(
        [(["-"], ["income * 12 * 0.5 + 1000", '"固定"', "income > 1000", "null"])],
        inputs=[("income", "number")],
        outputs=[("limit", "number"), ("label", "string"), ("ok", "boolean"), ("none", None)],
    )
    assert decide(xml, {"income": 2000}) == {
        "limit": 13000.0,
        "label": "固定",
        "ok": True,
        "none": None,
    }


def test_input_expressions_read_paths_and_chinese_names() -> None:
    xml = table_xml(
        [([">= 10000", '"A"'], ['"ok"'])],
        inputs=[("申请人.月收入", "number"), ("external.tax.grade", "string")],
    )
    context = {"申请人": {"月收入": 12000}, "external": {"tax": {"grade": "A"}}}
    assert decide(xml, context) == {"result": "ok"}


def test_python_cells_of_spiff_tables_keep_working() -> None:
    xml = table_xml(
        [(["> 5", "in ['a', 'b']"], ["'big ' + label"]), (["<= 5", "== 'c'"], ["'small'"])],
        inputs=[("x", "number"), ("label", "string")],
    )
    assert decide(xml, {"x": 6, "label": "a"}) == {"result": "big a"}
    assert decide(xml, {"x": 2, "label": "c"}) == {"result": "small"}
    assert decide(xml, {"x": 2, "label": "a"}) is None


def test_python_question_mark_cells() -> None:
    xml = table_xml([(["4 < ? < 6"], ['"mid"'])])
    assert decide(xml, {"x": 5}) == {"result": "mid"}
    assert decide(xml, {"x": 6}) is None


def test_declared_python_language_is_honoured() -> None:
    xml = table_xml([(["True"], ["True"])], inputs=[("flag", "boolean")], outputs=[("r", None)])
    assert decide(xml, {"flag": True}) == {"r": True}


def test_every_bad_cell_is_reported_with_rule_column_and_line() -> None:
    xml = table_xml(
        [(["< 600"], ['"C"']), (["[600..700"], ['"B"']), (["-"], ['"A" +'])],
        inputs=[("score", "number")],
    )
    with pytest.raises(DmnProblems) as caught:
        compile_one(xml, "grades.dmn")
    problems = caught.value.problems
    assert len(problems) == 2
    first, second = problems
    assert "rule 2 (Rule_2), column 1 'in 0'" in first.message
    assert "[600..700" in first.message
    assert first.element == "UnaryTests_2_0"
    lines = xml.decode().splitlines()
    assert first.line is not None and "[600..700" in lines[first.line - 1]
    assert "rule 3 (Rule_3), output 1 'out 0'" in second.message
    assert second.line is not None and '"A" +' in lines[second.line - 1]


def test_a_rule_with_the_wrong_number_of_cells_is_refused() -> None:
    xml = table_xml([(["< 1", "2"], ['"x"'])])
    with pytest.raises(DmnProblems, match="has 2 input and 1 output entries"):
        compile_one(xml)


def test_an_unsupported_expression_language_is_refused() -> None:
    xml = (
        table_xml([(["< 1"], ['"x"'])])
        .replace(
            b"<text>&lt; 1</text></inputEntry>",
            b"<text>&lt; 1</text></inputEntry>",
        )
        .replace(
            b'<inputEntry id="UnaryTests_1_0">',
            b'<inputEntry id="UnaryTests_1_0" expressionLanguage="javascript">',
        )
    )
    with pytest.raises(DmnProblems, match="'javascript' is not supported"):
        compile_one(xml)


def test_a_missing_input_variable_names_decision_and_input() -> None:
    xml = table_xml([(["< 600"], ['"C"'])], inputs=[("credit.score", "number")])
    with pytest.raises(DecisionError) as caught:
        decide(xml, {"amount": 1})
    message = str(caught.value)
    assert "decision 'decision'" in message and "input 'in 0'" in message
    assert "'credit'" in message and "does not have" in message
    assert caught.value.input == "in 0"


def test_a_value_of_the_wrong_type_names_the_input() -> None:
    xml = table_xml([(["< 600"], ['"C"'])], inputs=[("score", "number")])
    with pytest.raises(DecisionError, match=r"input 'in 0': expected a number, got str '700'"):
        decide(xml, {"score": "700"})


def test_a_wrong_type_without_type_ref_simply_does_not_match() -> None:
    xml = table_xml([(["< 600"], ['"C"'])], inputs=[("score", None)])
    assert decide(xml, {"score": "700"}) is None
