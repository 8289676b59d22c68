"""Rendering a stored risk report for people: HTML and PDF from the same tables.

Both renderers lay out the sections :func:`report_sections` builds, so the two formats
always say the same thing. Every value is escaped (``html.escape`` for HTML; reportlab
paragraphs read markup, so the same there): a hostile application field shows as text.
The PDF uses the CJK font contracts use, numbers its pages "第 n 页 共 N 页" and is built in
reportlab's invariant mode (same report, same bytes).
"""

from __future__ import annotations

import html
import io
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from reportlab.lib import colors  # type: ignore[import-untyped]
from reportlab.lib.pagesizes import A4  # type: ignore[import-untyped]
from reportlab.lib.styles import ParagraphStyle  # type: ignore[import-untyped]
from reportlab.lib.units import mm  # type: ignore[import-untyped]
from reportlab.platypus import (  # type: ignore[import-untyped]
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from loanflow.workers._pdf import numbered_canvas
from loanflow.workers.contract._fonts import REPORTLAB_LOCK, cjk_font

__all__ = ["Block", "Section", "render_html", "render_pdf", "report_sections"]

TITLE = "风险报告"
BEIJING = timezone(timedelta(hours=8), "CST")
_MAX_ROWS = 300
_OUTCOMES = {
    "approve": "同意",
    "reject": "拒绝",
    "decline": "拒绝",
    "review": "转人工审查",
    "cancel": "撤销",
}
_RULES = {
    "product": "产品规则",
    "grade.declined": "拒绝等级",
    "rate.base": "基准利率（LPR）",
    "rate.grade_spread": "等级加点",
    "rate.long_term": "长期限加点",
    "rate.secured": "担保减点",
    "rate.clamp": "利率上下限",
    "limit.requested": "申请金额",
    "limit.product_max": "产品上限",
    "limit.income_multiple": "收入倍数",
    "limit.dti_cap": "负债收入比上限",
    "limit.tenant_max": "本行上限",
    "limit.round_down": "取整（千元）",
    "limit.minimum": "最低额度",
    "payment": "月供",
}


@dataclass
class Block:
    """One table: ``header`` None for a two-column key/value list."""

    rows: list[list[str]]
    header: list[str] | None = None
    caption: str | None = None


@dataclass
class Section:
    title: str
    blocks: list[Block] = field(default_factory=list)
    note: str | None = None


def _text(value: Any) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) >= 1000 else f"{value:g}"
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10000 else str(value)
    if isinstance(value, Mapping | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return str(value)


def _when(value: Any) -> str:
    """An ISO timestamp in Beijing time, to the second."""
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return _text(value)
    if moment.tzinfo is not None:
        moment = moment.astimezone(BEIJING)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _inputs(value: Any) -> str:
    if isinstance(value, Mapping):
        return "；".join(f"{k}={_text(v)}" for k, v in value.items()) or "—"
    return _text(value)


def _percent(value: Any) -> str:
    return f"{value:.2%}" if isinstance(value, int | float) and not isinstance(value, bool) else "—"


def _flatten(value: Any, prefix: str = "") -> Iterator[list[str]]:
    if isinstance(value, Mapping) and value:
        for key, item in value.items():
            yield from _flatten(item, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, list) and value and any(isinstance(v, Mapping) for v in value):
        for index, item in enumerate(value):
            yield from _flatten(item, f"{prefix}[{index}]")
    else:
        yield [prefix or "—", _text(value)]


def _kv(value: Mapping[str, Any]) -> Block:
    return Block(rows=list(_flatten(value))[:_MAX_ROWS])


def _application(app: Mapping[str, Any]) -> Section:
    person = app.get("applicant") or {}
    rows = [
        ["申请编号", _text(app.get("id"))],
        ["产品", _text(app.get("product"))],
        ["申请金额（元）", _text(app.get("amount"))],
        ["期限（月）", _text(app.get("term_months"))],
        ["申请日期", _text(app.get("applied_on"))],
        ["申请人", _text(person.get("name"))],
        ["身份证号", _text(person.get("id_number"))],
        ["手机号", _text(person.get("phone"))],
        ["月收入（元）", _text(person.get("monthly_income"))],
        ["月还款负担（元）", _text(person.get("monthly_debt_payment"))],
    ]
    business = app.get("business")
    if business:
        rows += [["经营主体", _text(business.get("name"))], ["统一社会信用代码",
                 _text(business.get("credit_code"))]]  # fmt: skip
    return Section("申请概要", [Block(rows)])


def _decision(decision: Mapping[str, Any]) -> Section:
    outcome = decision.get("outcome")
    rows = [["系统结论", _OUTCOMES.get(str(outcome).lower(), _text(outcome))]]
    rest = {k: v for k, v in decision.items() if k != "outcome"}
    return Section("系统结论", [Block(rows + (_kv(rest).rows if rest else []))])


def _score_block(role: str, result: Mapping[str, Any]) -> Block:
    caption = (
        f"{role}：{_text(result.get('scorecard'))} v{_text(result.get('version'))}　"
        f"得分 {_text(result.get('score'))}　等级 {_text(result.get('grade'))}　"
        f"违约概率 {_percent(result.get('pd'))}"
    )
    codes = result.get("reason_codes") or []
    if codes:
        caption += "　主要扣分原因：" + "、".join(str(c) for c in codes)
    rows = [
        [_text(c.get("label") or c.get("name")), _text(c.get("value")), _text(c.get("bin")),
         _text(c.get("points")), _text(c.get("reason_code"))]
        for c in result.get("characteristics") or []
    ]  # fmt: skip
    return Block(rows, ["特征", "取值", "分箱", "得分", "原因码"], caption)


def _scorecard(scorecard: Mapping[str, Any]) -> Section:
    if not scorecard:
        return Section("评分卡", note="无评分结果")
    blocks = []
    if scorecard.get("champion"):
        blocks.append(_score_block("冠军评分卡（决策依据）", scorecard["champion"]))
    if scorecard.get("challenger"):
        blocks.append(_score_block("挑战者评分卡（仅供比较）", scorecard["challenger"]))
    if not blocks:
        blocks.append(_kv(scorecard))
    return Section("评分卡", blocks)


def _pricing(pricing: Mapping[str, Any]) -> Section:
    if not pricing:
        return Section("额度与定价", note="无定价结果")
    rows = [
        ["是否通过", _text(pricing.get("approved"))],
        ["风险等级", _text(pricing.get("grade"))],
        ["核定额度（元）", _text(pricing.get("limit"))],
        ["年利率", _percent(pricing.get("rate"))],
        ["期限（月）", _text(pricing.get("term_months"))],
        ["月供（元）", _text(pricing.get("monthly_payment"))],
        ["说明", "；".join(str(r) for r in pricing.get("reasons") or []) or "—"],
    ]
    trail = [
        [_RULES.get(str(step.get("rule")), _text(step.get("rule"))), _inputs(step.get("inputs")),
         _text(step.get("effect")), _text(step.get("value"))]
        for step in pricing.get("trail") or []
    ]  # fmt: skip
    blocks = [Block(rows)]
    if trail:
        blocks.append(Block(trail, ["步骤", "输入", "说明", "结果"], "计算过程"))
    return Section("额度与定价", blocks)


def _data(title: str, value: Mapping[str, Any], empty: str) -> Section:
    return Section(title, [_kv(value)]) if value else Section(title, note=empty)


def report_sections(
    report: Mapping[str, Any], overrides: Sequence[Mapping[str, Any]]
) -> list[Section]:
    """The report as titled tables of text, in reading order."""
    decisions = [
        [_when(d.get("at")), _text(d.get("element")), _text(d.get("decision")),
         _text(d.get("outputs"))]
        for d in report.get("decisions") or []
    ]  # fmt: skip
    jobs = [
        [_when(j.get("at")), _text(j.get("topic")), _text(j.get("element")),
         _text(j.get("worker"))]
        for j in report.get("risk_jobs") or []
    ]  # fmt: skip
    people = [
        [_when(o.get("at")), _text(o.get("actor")), _text(o.get("task_name") or o.get("element")),
         _OUTCOMES.get(str(o.get("decision")).lower(), _text(o.get("decision"))),
         _text(o.get("comment")), _text(o.get("agrees"))]
        for o in overrides
    ]  # fmt: skip
    return [
        _application(report.get("application") or {}),
        _decision(report.get("decision") or {}),
        _scorecard(report.get("scorecard") or {}),
        _pricing(report.get("pricing") or {}),
        _data("外部数据", report.get("external") or {}, "未查询外部数据"),
        _data("反欺诈", report.get("antifraud") or {}, "无反欺诈结果"),
        Section("决策表结果", [Block(decisions, ["时间", "节点", "决策表", "输出"])])
        if decisions else Section("决策表结果", note="本流程未执行决策表"),
        Section("风控作业", [Block(jobs, ["完成时间", "主题", "节点", "执行者"])])
        if jobs else Section("风控作业", note="无风控作业记录"),
        Section("报告生成后的人工决定",
                [Block(people, ["时间", "操作人", "任务", "决定", "意见", "与系统结论一致"])])
        if people else Section("报告生成后的人工决定", note="暂无"),
    ]  # fmt: skip


def _subtitle(report: Mapping[str, Any]) -> str:
    app_id = (report.get("application") or {}).get("id")
    return (
        f"申请编号 {_text(app_id)}　报告编号 {_text(report.get('report_id'))}　"
        f"生成时间 {_when(report.get('generated_at'))}（北京时间）"
    )


# -- HTML ---------------------------------------------------------------------------------

_CSS = """
body{font-family:"WenQuanYi Zen Hei","Noto Sans CJK SC",sans-serif;margin:2em;color:#222}
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.15em;border-bottom:1px solid #ccc;
padding-bottom:.2em;margin-top:1.6em}table{border-collapse:collapse;width:100%;margin:.5em 0}
th,td{border:1px solid #ccc;padding:.3em .5em;text-align:left;vertical-align:top;font-size:.9em}
th{background:#eee}caption{text-align:left;font-weight:bold;padding:.3em 0}
.sub{color:#666;font-size:.9em}.note{color:#666}td.k{width:28%;background:#f7f7f7}
"""


def _html_block(block: Block) -> str:
    e = html.escape
    parts = ["<table>"]
    if block.caption:
        parts.append(f"<caption>{e(block.caption)}</caption>")
    if block.header:
        parts.append("<tr>" + "".join(f"<th>{e(h)}</th>" for h in block.header) + "</tr>")
        parts += ["<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in block.rows]
    else:
        parts += [f'<tr><td class="k">{e(k)}</td><td>{e(v)}</td></tr>' for k, v in block.rows]
    parts.append("</table>")
    return "\n".join(parts)


def render_html(report: Mapping[str, Any], overrides: Sequence[Mapping[str, Any]] = ()) -> str:
    """A standalone HTML page of the report (no scripts, no external resources)."""
    e = html.escape
    app_id = (report.get("application") or {}).get("id")
    out = [
        "<!DOCTYPE html>",
        '<html lang="zh-CN"><head><meta charset="utf-8">',
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'\">",
        f"<title>{e(TITLE)} {e(_text(app_id))}</title><style>{_CSS}</style></head><body>",
        f"<h1>{e(TITLE)}</h1>",
        f'<p class="sub">{e(_subtitle(report))}</p>',
    ]
    for section in report_sections(report, overrides):
        out.append(f"<section><h2>{e(section.title)}</h2>")
        if section.note:
            out.append(f'<p class="note">{e(section.note)}</p>')
        out += [_html_block(block) for block in section.blocks]
        out.append("</section>")
    out.append("</body></html>")
    return "\n".join(out)


# -- PDF ----------------------------------------------------------------------------------


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _pdf_table(block: Block, width: float, styles: Mapping[str, ParagraphStyle]) -> Table:
    cell = styles["cell"]
    rows = [[Paragraph(_escape(c), cell) for c in row] for row in block.rows]
    if block.header:
        rows.insert(0, [Paragraph(_escape(h), styles["head"]) for h in block.header])
        widths = [width / len(block.header)] * len(block.header)
    else:
        widths = [width * 0.3, width * 0.7]
    table = Table(
        rows or [[""] * len(widths)], colWidths=widths, repeatRows=1 if block.header else 0
    )
    style = [
        ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ]
    if block.header:
        style.append(("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#EEEEEE")))
    else:
        style.append(("BACKGROUND", (0, 0), (0, -1), colors.HexColor("#F6F6F6")))
    table.setStyle(TableStyle(style))
    return table


def render_pdf(report: Mapping[str, Any], overrides: Sequence[Mapping[str, Any]] = ()) -> bytes:
    """The report as an A4 PDF in the CJK font; RenderError if the font is missing."""
    font = cjk_font()
    base = ParagraphStyle("base", fontName=font, fontSize=9, leading=13, wordWrap="CJK")
    styles = {
        "title": ParagraphStyle("title", parent=base, fontSize=18, leading=26, spaceAfter=4),
        "sub": ParagraphStyle("sub", parent=base, fontSize=8, textColor=colors.grey),
        "h2": ParagraphStyle("h2", parent=base, fontSize=12, leading=18, spaceBefore=8,
                             spaceAfter=4, keepWithNext=1),
        "caption": ParagraphStyle("caption", parent=base, spaceBefore=4, spaceAfter=2,
                                  keepWithNext=1),
        "cell": ParagraphStyle("cell", parent=base, fontSize=8, leading=11),
        "head": ParagraphStyle("head", parent=base, fontSize=8, leading=11),
    }  # fmt: skip
    width = A4[0] - 30 * mm
    story: list[Any] = [
        Paragraph(_escape(TITLE), styles["title"]),
        Paragraph(_escape(_subtitle(report)), styles["sub"]),
    ]
    for section in report_sections(report, overrides):
        story.append(Paragraph(_escape(section.title), styles["h2"]))
        if section.note:
            story.append(Paragraph(_escape(section.note), styles["cell"]))
        for block in section.blocks:
            if block.caption:
                story.append(Paragraph(_escape(block.caption), styles["caption"]))
            story += [_pdf_table(block, width, styles), Spacer(1, 2 * mm)]
    app_id = _text((report.get("application") or {}).get("id"))
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=15 * mm,
        rightMargin=15 * mm,
        topMargin=15 * mm,
        bottomMargin=15 * mm,
        invariant=1,
        initialFontName=font,
        title=f"{TITLE} {app_id}",
        creator="loanflow",
    )
    with REPORTLAB_LOCK:
        doc.build(story, canvasmaker=numbered_canvas(font, f"{TITLE}　申请编号 {app_id}", 15 * mm))
    return buffer.getvalue()
