"""SQL for conditions on the customer's province, city and district: by division code.

"city eq 上海", "city eq 上海市" and "city eq Shanghai" all mean city_code 310100, so they match the
same customers however each one's city was typed. A value that names no division (a foreign city)
is compared with the stored text, as typed; a name several divisions share (朝阳区) matches all of
them, as the text did. Presence (is_set / is_not_set) is tested on the name, so a foreign city is
a city that is set.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, false, not_, or_

from guanxi.customers import places
from guanxi.customers.models import Customer
from guanxi.marketing.compiler import Context, register_compiler
from guanxi.marketing.conditions import Rule


def compile_place(rule: Rule, ctx: Context) -> ColumnElement[bool]:
    level = rule.spec.column
    assert level in places.LEVELS
    name = getattr(Customer, level)
    code = getattr(Customer, f"{level}_code")
    if rule.op == "is_set":
        return name.is_not(None)
    if rule.op == "is_not_set":
        return name.is_(None)
    values = [rule.value] if rule.op in ("eq", "ne") else list(rule.value)
    codes: set[str] = set()
    texts: list[str] = []
    for value in values:
        found = places.codes_for(level, str(value))
        if found:
            codes |= found
        else:
            texts.append(str(value))
    parts: list[ColumnElement[bool]] = []
    if codes:
        # Never NULL (an uncoded row is simply not one of them), so the negation below holds.
        parts.append(and_(code.is_not(None), code.in_(sorted(codes))))
    if texts:
        parts.append(name.in_(texts))
    matched = or_(*parts) if parts else false()
    if rule.op in ("eq", "in"):
        return matched
    # ne / not_in: a customer without the level counts as different, as for the other text fields.
    return or_(not_(matched), name.is_(None))


register_compiler("place", compile_place)
