"""Synthetic specimens: fake ID cards, licences and statements rendered with Pillow.

The repository must hold no real person's data, so tests, the accuracy bench and demos
render their own documents from random, invented values: names from common characters,
invented addresses, ID numbers and credit codes with a correct (or a deliberately wrong)
checksum. :func:`degrade` turns a clean render into a phone-photo-like one (scale,
rotation, blur, noise, JPEG).

The layouts follow the real documents' reading order and labels, not their artwork, so
they exercise the label-and-position extraction, not a template match.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont

from loanflow.workers.builtin.identity import check_digit
from loanflow.workers.ocr._license import USCC_CHARSET, uscc_check_char

__all__ = [
    "DEFAULT_FONT_PATH",
    "IdCardSpecimen",
    "LicenseSpecimen",
    "StatementSpecimen",
    "degrade",
    "random_id_card",
    "random_license",
    "random_statement",
    "render_id_back",
    "render_id_front",
    "render_license",
    "render_statement",
    "to_png",
]

DEFAULT_FONT_PATH = Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")

_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高郑梁谢宋唐韩冯邓曹彭曾肖田董潘"
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍建国红文辉鹏飞春梅海燕志"
_ETHNICITIES = ("汉", "汉", "汉", "土家", "苗", "侗", "回", "壮", "满", "蒙古")
_PROVINCES = (("42", "湖北省"), ("43", "湖南省"), ("51", "四川省"), ("52", "贵州省"))
_COUNTIES = ("恩施市", "利川市", "建始县", "巴东县", "宣恩县", "咸丰县", "来凤县", "鹤峰县")
_TOWNS = ("龙凤镇", "团堡镇", "高坪镇", "沙道沟镇", "椒园镇", "小村乡", "忠路镇")
_VILLAGES = ("青龙村", "白果坝村", "杨柳池村", "金龙坝村", "石板岭村", "两河口村")
_TRADES = ("茶叶", "农资", "建材", "餐饮", "药材", "养殖", "家电", "物流")
_SCOPES = (
    "茶叶种植、加工、销售",
    "农副产品收购、销售",
    "预包装食品零售",
    "建筑材料批发零售",
    "中药材种植及初加工",
    "生猪养殖、销售",
    "普通货物道路运输",
    "家用电器销售及维修",
    "化肥、农药（不含危险化学品）销售",
)
_ORG_TYPES = ("有限责任公司（自然人投资或控股）", "有限责任公司（自然人独资）", "个人独资企业")


@lru_cache(maxsize=32)
def _font(size: int, path: str = str(DEFAULT_FONT_PATH)) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size, index=0)


def _name(rng: random.Random) -> str:
    return rng.choice(_SURNAMES) + "".join(rng.choice(_GIVEN) for _ in range(rng.choice((1, 2))))


def _address(rng: random.Random, province: str) -> str:
    return (
        f"{province}{rng.choice(_COUNTIES)}{rng.choice(_TOWNS)}{rng.choice(_VILLAGES)}"
        f"{rng.randint(1, 12)}组{rng.randint(1, 99)}号"
    )


@dataclass(frozen=True)
class IdCardSpecimen:
    """What a synthetic resident ID card says (front and back)."""

    name: str
    sex: str
    ethnicity: str
    birth_date: date
    address: str
    id_number: str
    issuing_authority: str
    valid_from: date
    valid_until: date | None
    """None renders ``长期`` (valid for life)."""

    @property
    def validity(self) -> str:
        end = "长期" if self.valid_until is None else f"{self.valid_until:%Y.%m.%d}"
        return f"{self.valid_from:%Y.%m.%d}-{end}"


@dataclass(frozen=True)
class LicenseSpecimen:
    """What a synthetic business licence says."""

    company_name: str
    credit_code: str
    company_type: str
    legal_representative: str
    registered_capital: str
    established: date
    address: str
    business_scope: str


@dataclass(frozen=True)
class StatementSpecimen:
    """A synthetic balance sheet plus income statement; amounts in yuan."""

    company_name: str
    period_end: date
    unit: str
    """``元`` or ``万元``: how the amounts are printed."""
    items: dict[str, float] = field(default_factory=dict)


def random_id_card(
    rng: random.Random,
    *,
    bad_checksum: bool = False,
    expired_on: date | None = None,
) -> IdCardSpecimen:
    """A consistent fake card; ``bad_checksum`` breaks the check digit on purpose.

    With ``expired_on`` the card's validity ends before that date.
    """
    code, province = rng.choice(_PROVINCES)
    born = date(1950, 1, 1) + timedelta(days=rng.randint(0, 365 * 52))
    sex = rng.choice("男女")
    sequence = rng.randint(0, 99) * 10 + rng.choice((1, 3, 5, 7, 9) if sex == "男" else (0, 2, 4))
    first17 = f"{code}{rng.randint(1, 35):02d}{rng.randint(1, 30):02d}{born:%Y%m%d}{sequence:03d}"
    check = check_digit(first17)
    if bad_checksum:
        check = rng.choice([c for c in "0123456789X" if c != check])
    issued = date(2012, 1, 1) + timedelta(days=rng.randint(0, 365 * 10))
    if expired_on is not None:
        issued = expired_on - timedelta(days=365 * 10 + rng.randint(30, 900))
    until: date | None = issued.replace(year=issued.year + rng.choice((10, 20)))
    if expired_on is None and rng.random() < 0.15:
        until = None
    elif expired_on is not None:
        until = issued.replace(year=issued.year + 10)
    return IdCardSpecimen(
        name=_name(rng),
        sex=sex,
        ethnicity=rng.choice(_ETHNICITIES),
        birth_date=born,
        address=_address(rng, province),
        id_number=first17 + check,
        issuing_authority=f"{rng.choice(_COUNTIES)}公安局",
        valid_from=issued,
        valid_until=until,
    )


def random_credit_code(rng: random.Random, *, bad_checksum: bool = False) -> str:
    """A unified social credit code with a GB 32100 check character (or a wrong one)."""
    body = "91" + rng.choice(("4228", "4290", "4331", "5101")) + f"{rng.randint(0, 99):02d}"
    body += "".join(rng.choice(USCC_CHARSET) for _ in range(9))
    check = uscc_check_char(body)
    if bad_checksum:
        check = rng.choice([c for c in USCC_CHARSET if c != check])
    return body + check


def random_license(rng: random.Random, *, bad_checksum: bool = False) -> LicenseSpecimen:
    """A fake licence of a small county business."""
    county = rng.choice(_COUNTIES)
    trade = rng.choice(_TRADES)
    name = f"{county[:2]}{rng.choice(_GIVEN)}{rng.choice(_GIVEN)}{trade}有限公司"
    capital = rng.choice(("50万元", "100万元", "200万元", "500万元", "壹佰万元整", "叁拾万元整"))
    scope = "；".join(rng.sample(_SCOPES, 3)) + "。"
    return LicenseSpecimen(
        company_name=name,
        credit_code=random_credit_code(rng, bad_checksum=bad_checksum),
        company_type=rng.choice(_ORG_TYPES),
        legal_representative=_name(rng),
        registered_capital=capital,
        established=date(2005, 1, 1) + timedelta(days=rng.randint(0, 365 * 18)),
        address=_address(rng, rng.choice(_PROVINCES)[1]),
        business_scope=scope,
    )


def random_statement(
    rng: random.Random, *, unbalanced: bool = False, unit: str | None = None
) -> StatementSpecimen:
    """Balanced statements (assets = liabilities + equity) unless ``unbalanced``."""
    unit = unit or rng.choice(("元", "万元"))

    def amount(low: float, high: float) -> float:
        value = rng.uniform(low, high)
        return round(value / 100) * 100.0 if unit == "万元" else round(value, 2)

    current = amount(2e5, 5e6)
    fixed = amount(1e5, 8e6)
    liabilities_current = amount(5e4, current)
    liabilities_long = amount(0, fixed / 2)
    assets = round(current + fixed, 2)
    liabilities = round(liabilities_current + liabilities_long, 2)
    equity = round(assets - liabilities, 2)
    if unbalanced:
        equity = round(equity + amount(assets * 0.05, assets * 0.2), 2)
    revenue = amount(5e5, 2e7)
    cost = round(revenue * rng.uniform(0.6, 0.9), -2 if unit == "万元" else 2)
    total_profit = round((revenue - cost) * rng.uniform(0.2, 0.6), -2 if unit == "万元" else 2)
    net = round(total_profit * 0.75, -2 if unit == "万元" else 2)
    items = {
        "current_assets": current,
        "non_current_assets": fixed,
        "total_assets": assets,
        "current_liabilities": liabilities_current,
        "non_current_liabilities": liabilities_long,
        "total_liabilities": liabilities,
        "owners_equity": equity,
        "revenue": revenue,
        "operating_cost": cost,
        "total_profit": total_profit,
        "net_profit": net,
    }
    return StatementSpecimen(
        company_name=f"{rng.choice(_COUNTIES)[:2]}{rng.choice(_TRADES)}有限公司",
        period_end=date(rng.randint(2019, 2024), 12, 31),
        unit=unit,
        items=items,
    )


# -- rendering -------------------------------------------------------------------------------

_INK = (20, 20, 20)
_LABEL = (40, 90, 160)


def _canvas(width: int, height: int, tint: tuple[int, int, int]) -> Image.Image:
    image = Image.new("RGB", (width, height), tint)
    draw = ImageDraw.Draw(image)
    for y in range(0, height, 6):  # faint guilloche-like stripes
        shade = tuple(max(0, c - 6 * ((y // 6) % 2)) for c in tint)
        draw.line([(0, y), (width, y + height // 8)], fill=shade, width=1)
    return image


def _wrap(text: str, per_line: int) -> list[str]:
    """Lines of ``per_line`` characters; punctuation never starts a line (as in print)."""
    lines: list[str] = []
    for char in text:
        if lines and (len(lines[-1]) < per_line or char in "，。；、）：”"):
            lines[-1] += char
        else:
            lines.append(char)
    return lines


def render_id_front(card: IdCardSpecimen, width: int = 856) -> Image.Image:
    """The portrait side: name, sex, ethnicity, birth, address, number (photo placeholder)."""
    s = width / 856
    image = _canvas(width, round(540 * s), (236, 242, 246))
    draw = ImageDraw.Draw(image)
    label, value, number = _font(round(24 * s)), _font(round(30 * s)), _font(round(34 * s))

    def at(x: float, y: float) -> tuple[float, float]:
        return (x * s, y * s)

    draw.text(at(50, 50), "姓名", font=label, fill=_LABEL)
    draw.text(at(140, 45), card.name, font=value, fill=_INK)
    draw.text(at(50, 115), "性别", font=label, fill=_LABEL)
    draw.text(at(140, 110), card.sex, font=value, fill=_INK)
    draw.text(at(250, 115), "民族", font=label, fill=_LABEL)
    draw.text(at(340, 110), card.ethnicity, font=value, fill=_INK)
    draw.text(at(50, 180), "出生", font=label, fill=_LABEL)
    born = card.birth_date
    draw.text(at(140, 175), f"{born.year}", font=value, fill=_INK)
    draw.text(at(225, 180), "年", font=label, fill=_LABEL)
    draw.text(at(275, 175), f"{born.month}", font=value, fill=_INK)
    draw.text(at(320, 180), "月", font=label, fill=_LABEL)
    draw.text(at(370, 175), f"{born.day}", font=value, fill=_INK)
    draw.text(at(415, 180), "日", font=label, fill=_LABEL)
    draw.text(at(50, 245), "住址", font=label, fill=_LABEL)
    for i, line in enumerate(_wrap(card.address, 11)):
        draw.text(at(140, 240 + 44 * i), line, font=value, fill=_INK)
    draw.text(at(50, 440), "公民身份号码", font=label, fill=_LABEL)
    draw.text(at(250, 434), card.id_number, font=number, fill=_INK)
    draw.rectangle([at(580, 60), at(800, 340)], fill=(214, 220, 228))
    draw.ellipse([at(640, 110), at(740, 230)], fill=(170, 176, 186))
    draw.rectangle([at(615, 240), at(765, 340)], fill=(170, 176, 186))
    return image


def render_id_back(card: IdCardSpecimen, width: int = 856) -> Image.Image:
    """The emblem side: title, issuing authority and validity period."""
    s = width / 856
    image = _canvas(width, round(540 * s), (240, 244, 236))
    draw = ImageDraw.Draw(image)
    label, value = _font(round(24 * s)), _font(round(28 * s))
    draw.ellipse([(50 * s, 40 * s), (190 * s, 180 * s)], outline=(200, 40, 40), width=round(6 * s))
    draw.text((250 * s, 60 * s), "中华人民共和国", font=_font(round(44 * s)), fill=_INK)
    draw.text((270 * s, 140 * s), "居民身份证", font=_font(round(56 * s)), fill=_INK)
    draw.text((150 * s, 370 * s), "签发机关", font=label, fill=_INK)
    draw.text((300 * s, 366 * s), card.issuing_authority, font=value, fill=_INK)
    draw.text((150 * s, 440 * s), "有效期限", font=label, fill=_INK)
    draw.text((300 * s, 436 * s), card.validity, font=value, fill=_INK)
    return image


def render_license(lic: LicenseSpecimen, width: int = 1400) -> Image.Image:
    """A licence in the 2019 two-column layout (QR code and seal as placeholders)."""
    s = width / 1400
    image = _canvas(width, round(1000 * s), (250, 247, 238))
    draw = ImageDraw.Draw(image)
    label, value = _font(round(26 * s)), _font(round(26 * s))
    draw.rectangle([(20 * s, 20 * s), (1380 * s, 980 * s)], outline=(190, 150, 60), width=4)
    draw.text((560 * s, 60 * s), "营业执照", font=_font(round(70 * s)), fill=(170, 30, 30))
    draw.text((70 * s, 180 * s), "统一社会信用代码", font=label, fill=_INK)
    draw.text((300 * s, 180 * s), lic.credit_code, font=value, fill=_INK)
    draw.rectangle([(1180 * s, 60 * s), (1330 * s, 210 * s)], outline=_INK, width=3)
    left = (
        ("名称", lic.company_name),
        ("类型", lic.company_type),
        ("法定代表人", lic.legal_representative),
    )
    right = (
        ("注册资本", lic.registered_capital),
        ("成立日期", f"{lic.established.year}年{lic.established:%m}月{lic.established:%d}日"),
        ("营业期限", f"{lic.established.year}年{lic.established:%m}月{lic.established:%d}日至长期"),
    )
    for row, ((l_label, l_value), (r_label, r_value)) in enumerate(zip(left, right, strict=True)):
        y = (300 + 70 * row) * s
        draw.text((70 * s, y), l_label, font=label, fill=_INK)
        draw.text((230 * s, y), l_value, font=value, fill=_INK)
        draw.text((760 * s, y), r_label, font=label, fill=_INK)
        draw.text((900 * s, y), r_value, font=value, fill=_INK)
    y = 510 * s
    draw.text((70 * s, y), "经营范围", font=label, fill=_INK)
    for i, line in enumerate(_wrap(lic.business_scope, 17)):
        draw.text((230 * s, y + 50 * s * i), line, font=value, fill=_INK)
    draw.text((760 * s, y), "住所", font=label, fill=_INK)
    for i, line in enumerate(_wrap(lic.address, 15)):
        draw.text((900 * s, y + 50 * s * i), line, font=value, fill=_INK)
    draw.ellipse([(1000 * s, 760 * s), (1200 * s, 960 * s)], outline=(200, 40, 40), width=5)
    return image


_STATEMENT_ROWS = (
    ("资产负债表", None),
    ("流动资产合计", "current_assets"),
    ("非流动资产合计", "non_current_assets"),
    ("资产总计", "total_assets"),
    ("流动负债合计", "current_liabilities"),
    ("非流动负债合计", "non_current_liabilities"),
    ("负债合计", "total_liabilities"),
    ("所有者权益合计", "owners_equity"),
    ("利润表", None),
    ("营业收入", "revenue"),
    ("营业成本", "operating_cost"),
    ("利润总额", "total_profit"),
    ("净利润", "net_profit"),
)


def format_amount(value: float, unit: str) -> str:
    """How a statement prints ``value`` yuan in ``unit``: thousands separators, 2 decimals."""
    shown = value / 10000 if unit == "万元" else value
    return f"{shown:,.2f}"


def render_statement(st: StatementSpecimen, width: int = 1200) -> Image.Image:
    """A one-page summary of balance sheet and income statement totals, in a ruled table."""
    s = width / 1200
    height = round((250 + 62 * len(_STATEMENT_ROWS)) * s)
    image = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    text, head = _font(round(26 * s)), _font(round(40 * s))
    draw.text((380 * s, 30 * s), "财务报表（简表）", font=head, fill=_INK)
    draw.text((60 * s, 110 * s), f"编制单位：{st.company_name}", font=text, fill=_INK)
    draw.text((700 * s, 110 * s), f"{st.period_end.year}年12月31日", font=text, fill=_INK)
    draw.text((1000 * s, 110 * s), f"单位：{st.unit}", font=text, fill=_INK)
    y = 170 * s
    draw.text((70 * s, y), "项目", font=text, fill=_INK)
    draw.text((760 * s, y), "期末余额/本年累计", font=text, fill=_INK)
    for i, (caption, key) in enumerate(_STATEMENT_ROWS):
        top = y + 62 * s * (i + 1)
        draw.line([(50 * s, top - 14 * s), (1150 * s, top - 14 * s)], fill=(120, 120, 120))
        if key is None:
            draw.text((70 * s, top), f"【{caption}】", font=text, fill=_INK)
            continue
        draw.text((70 * s, top), caption, font=text, fill=_INK)
        amount = format_amount(st.items[key], st.unit)
        right = 1120 * s - draw.textlength(amount, font=text)
        draw.text((right, top), amount, font=text, fill=_INK)
    return image


def degrade(
    image: Image.Image,
    rng: random.Random,
    *,
    scale: float = 1.0,
    max_angle: float = 3.0,
    blur: float = 0.8,
    noise: float = 12.0,
    jpeg_quality: int = 60,
) -> Image.Image:
    """A phone-photo-like copy: rescaled, rotated a few degrees, blurred, noisy, JPEG-compressed."""
    if scale != 1.0:
        size = (round(image.width * scale), round(image.height * scale))
        image = image.resize(size, Image.Resampling.LANCZOS)
    angle = rng.uniform(-max_angle, max_angle)
    image = image.rotate(
        angle, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=(128, 128, 120)
    )
    if blur:
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(blur / 2, blur)))
    if noise:
        grain = Image.effect_noise(image.size, noise).convert("RGB")
        image = Image.blend(image, grain, 0.12)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=jpeg_quality)
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return decoded.convert("RGB")


def to_png(image: Image.Image) -> bytes:
    """PNG bytes of ``image``."""
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()
