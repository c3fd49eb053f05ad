"""Mail rendering with Jinja2 in a locked-down sandbox, the unsubscribe footer, CSS inlining and
the plain-text part.

Templates are written by a project's people but the values they print come from the public site
tag, so both are untrusted: the sandbox allows no attribute starting with "_", calls only macros,
a few string methods and our own helpers, bounds every loop, call, string and the output, and
turns every failure into a TemplateRenderError naming the part (and the variable, when one had
no value)."""

from __future__ import annotations

import html as html_lib
import re
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache, wraps
from html.parser import HTMLParser
from typing import Any, NoReturn
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import css_inline
from jinja2 import Environment, StrictUndefined, Template, TemplateSyntaxError, Undefined, UndefinedError, nodes
from jinja2 import filters as jinja_filters
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.nodes import EvalContext
from jinja2.runtime import Context, LoopContext, Macro, markup_join, str_join
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import missing, pass_eval_context

from tagmail.domain.templates import (
    Footer,
    InvalidTemplate,
    MailContent,
    RenderedMail,
    TemplateRenderError,
    pick_locale,
)

# Limits a template cannot get past, whatever it does.
MAX_SOURCE_CHARS = 512_000  # one part's template source
MAX_HTML_CHARS = 1_000_000  # the rendered HTML or text, before and after CSS inlining
MAX_SUBJECT_CHARS = 255  # longer subjects are cut (a long attribute must not stop a send)
MAX_VALUE_CHARS = MAX_HTML_CHARS  # any string or list a template builds
MAX_STEPS = 100_000  # loop iterations plus calls, per mail
MAX_SECONDS = 3.0  # wall-clock backstop per mail
MAX_RANGE = 10_000
MAX_INT_BITS = 4096
TEXT_WIDTH = 78

_PARTS = ("subject", "html", "text")
# Numbers the `currency` filter knows: symbol, decimals.
_CURRENCIES: dict[str, tuple[str, int]] = {
    "JPY": ("¥", 0),
    "USD": ("$", 2),
    "EUR": ("€", 2),
    "GBP": ("£", 2),
    "CNY": ("CN¥", 2),
    "KRW": ("₩", 0),
    "TWD": ("NT$", 0),
    "HKD": ("HK$", 2),
    "AUD": ("A$", 2),
    "CAD": ("CA$", 2),
    "SGD": ("S$", 2),
}
# Time zones used when the runtime has no tz database (none of them has daylight saving time).
_FIXED_ZONES = {"UTC": 0, "Etc/UTC": 0, "GMT": 0, "Asia/Tokyo": 9, "JST": 9, "Asia/Seoul": 9, "Asia/Shanghai": 8}
_OFFSET = re.compile(r"^([+-])(\d{2}):?(\d{2})$")
_STR_METHODS = frozenset(
    {
        "capitalize", "count", "endswith", "find", "isdigit", "lower", "lstrip", "rsplit", "rstrip",
        "split", "splitlines", "startswith", "strip", "title", "upper",
    }
)  # fmt: skip
_RECORD_METHODS = frozenset({"get", "items", "keys", "values"})
_BUILTIN_FILTERS = (
    "abs", "capitalize", "count", "d", "default", "dictsort", "e", "escape", "first", "float", "groupby",
    "int", "items", "last", "length", "list", "lower", "map", "max", "min", "reject", "rejectattr", "reverse",
    "round", "select", "selectattr", "sort", "string", "striptags", "sum", "title", "trim", "truncate",
    "unique", "upper", "urlencode", "wordcount",
)  # fmt: skip
_LOOP_GUARD = "_bounded_loop"
_CONCAT = "_bounded_concat"
# Header injection: no line breaks of any kind in a subject.
_LINE_BREAKS = re.compile(r"[\r\n\x0b\x0c\x1c-\x1e\x85\u2028\u2029]+")
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")


class _LimitReached(Exception):
    """A template went past one of the limits above."""


# ---------------------------------------------------------------------------------------------
# Budget: every loop iteration, call and output chunk of one mail counts against it.


@dataclass
class _Budget:
    steps_left: int
    deadline: float

    def spend(self, steps: int = 1) -> None:
        self.steps_left -= steps
        if self.steps_left < 0:
            raise _LimitReached(f"the template runs more than {MAX_STEPS} loop iterations and calls")
        if self.steps_left % 512 == 0 and time.monotonic() > self.deadline:
            raise _LimitReached(f"the template takes longer than {MAX_SECONDS:g} seconds")


_budget: ContextVar[_Budget | None] = ContextVar("tagmail_render_budget", default=None)


def _spend(steps: int = 1) -> None:
    budget = _budget.get()
    if budget is not None:
        budget.spend(steps)


@contextmanager
def _budgeted() -> Iterator[None]:
    token = _budget.set(_Budget(MAX_STEPS, time.monotonic() + MAX_SECONDS))
    try:
        yield
    finally:
        _budget.reset(token)


def _check_size(value: Any, what: str = "a value") -> Any:
    if isinstance(value, (str, list, tuple)) and len(value) > MAX_VALUE_CHARS:
        raise _LimitReached(f"{what} would be longer than {MAX_VALUE_CHARS} characters")
    return value


# ---------------------------------------------------------------------------------------------
# Template data: read-only records that know their path, so a missing value can be named.


class _Record(Mapping[str, Any]):
    """A read-only mapping for templates. `a.b` finds the key "b" before any method (so
    `event.properties.items` is the cart's items, not dict.items), and a missing key is an
    undefined value named by its full path ("user.first_name")."""

    __slots__ = ("_data", "_path")

    def __init__(self, data: Mapping[str, Any], path: str) -> None:
        self._path = path
        self._data = {str(key): _wrap(value, _join_path(path, str(key))) for key, value in data.items()}

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return repr(self._data)

    __str__ = __repr__


@dataclass(frozen=True)
class _RecordMethod:
    """`record.items()` and friends, when the record has no key of that name."""

    record: _Record
    name: str
    path: str

    def __call__(self, *args: Any) -> Any:
        if self.name == "get":
            key, default = (*args, None)[:2]
            value = self.record._data.get(str(key))
            return default if value is None else value
        if args:
            raise TypeError(f"{self.name}() takes no arguments")
        return tuple(getattr(self.record._data, self.name)())


def _join_path(path: str, key: str) -> str:
    return f"{path}.{key}" if key.isidentifier() else f"{path}[{key!r}]"


def _wrap(value: Any, path: str) -> Any:
    """Template data is JSON-like: records, tuples and scalars. Other objects become text, so no
    method of theirs is reachable; Markup loses its "safe" mark (attribute values are escaped)."""
    if value is None or isinstance(value, (bool, int, float, Decimal, datetime, date)):
        return value
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, Mapping):
        return _Record(value, path)
    if isinstance(value, (list, tuple, set, frozenset)):
        return _Sequence((_wrap(item, f"{path}[{index}]") for index, item in enumerate(value)), path)
    return str(value)


class _Sequence(tuple[Any, ...]):
    """A read-only list of template data that knows its path, so `items[5]` can be named."""

    path: str

    def __new__(cls, items: Iterable[Any], path: str) -> _Sequence:
        sequence = super().__new__(cls, items)
        sequence.path = path
        return sequence

    def __repr__(self) -> str:
        return repr(list(self))

    __str__ = __repr__


class _MailUndefined(StrictUndefined):
    """Printing, iterating or doing arithmetic with a missing value is an error naming it; a
    missing value is false in conditions and unequal to anything, and `| default(...)` replaces it."""

    __slots__ = ()

    def __bool__(self) -> bool:  # type: ignore[override]
        return False

    def __eq__(self, other: object) -> bool:  # type: ignore[override]
        return type(self) is type(other)

    def __ne__(self, other: object) -> bool:  # type: ignore[override]
        return not self.__eq__(other)

    def __hash__(self) -> int:  # type: ignore[override]
        return id(type(self))

    def __contains__(self, item: object) -> bool:  # type: ignore[override]
        return False

    @property
    def path(self) -> str | None:
        name = self._undefined_name
        return name if isinstance(name, str) else None


def _missing(path: str) -> _MailUndefined:
    return _MailUndefined(hint=f"`{path}` has no value and no default", name=path)


def _is_plain_missing(value: Any) -> bool:
    """An undefined value we can name (not one that carries a security error)."""
    return (
        isinstance(value, _MailUndefined)
        and value._undefined_exception is UndefinedError
        and (value._undefined_obj is missing or isinstance(value._undefined_obj, _Record))
    )


# ---------------------------------------------------------------------------------------------
# The environment.


class _BoundedBuffer(list[str]):
    """Output captured by macros, `{% set %}` blocks and filter blocks, with a size limit."""

    __slots__ = ("_size",)

    def __init__(self) -> None:
        super().__init__()
        self._size = 0

    def append(self, item: str) -> None:
        self._grow(len(item))
        super().append(item)

    def extend(self, items: Iterable[str]) -> None:
        for item in items:
            self.append(item)

    def _grow(self, size: int) -> None:
        self._size += size
        if self._size > MAX_VALUE_CHARS:
            raise _LimitReached(f"captured output would be longer than {MAX_VALUE_CHARS} characters")


class _MailCodeGenerator(CodeGenerator):
    def buffer(self, frame: Frame) -> None:
        frame.buffer = self.temporary_identifier()
        self.writeline(f"{frame.buffer} = environment.new_output_buffer()")


class _MailEnvironment(ImmutableSandboxedEnvironment):
    code_generator_class = _MailCodeGenerator
    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def __init__(self) -> None:
        super().__init__(
            autoescape=lambda name: name == "html",
            undefined=_MailUndefined,
            finalize=_finalize,
            auto_reload=False,
            cache_size=0,
        )
        self.globals.clear()
        self.globals["range"] = _bounded_range
        builtin = {name: _sized(self.filters[name]) for name in _BUILTIN_FILTERS}
        self.filters.clear()
        self.filters.update(builtin)
        self.filters.update(
            {
                "join": _join,
                "replace": _replace,
                "yen": _yen,
                "currency": _currency,
                "date": _date,
                _LOOP_GUARD: _bounded_loop,
                _CONCAT: _bounded_concat,
            }
        )

    @staticmethod
    def new_output_buffer() -> _BoundedBuffer:
        return _BoundedBuffer()

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, _Record):
            return _lookup(obj, attribute)
        if _is_plain_missing(obj):
            return _missing(_join_path(obj.path or "?", attribute))
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        if isinstance(obj, _Record):
            if isinstance(argument, str):
                return _lookup(obj, argument, methods=False)
            return _missing(f"{obj._path}[{argument!r}]")
        if _is_plain_missing(obj):
            return _missing(f"{obj.path}[{argument!r}]")
        if isinstance(obj, _Sequence) and isinstance(argument, int) and not -len(obj) <= argument < len(obj):
            return _missing(f"{obj.path}[{argument}]")
        return super().getitem(obj, argument)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        _spend()
        if not _callable_in_templates(__obj):
            raise SecurityError(f"calling {type(__obj).__name__} objects is not allowed in templates")
        return _check_size(super().call(__context, __obj, *args, **kwargs), "a call's result")

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        _check_binop(operator, left, right)
        return _check_size(super().call_binop(context, operator, left, right))


def _lookup(record: _Record, key: str, *, methods: bool = True) -> Any:
    value = record._data.get(key)
    if value is not None:
        return value
    if methods and key in _RECORD_METHODS and key not in record._data:
        return _RecordMethod(record, key, _join_path(record._path, key))
    return _missing(_join_path(record._path, key))


def _callable_in_templates(obj: Any) -> bool:
    if isinstance(obj, (Macro, LoopContext, _RecordMethod, Undefined)) or obj is _bounded_range:
        return True
    owner = getattr(obj, "__self__", None)
    name = getattr(obj, "__name__", "")
    if isinstance(owner, LoopContext):
        return name in ("cycle", "changed")
    return isinstance(owner, str) and name in _STR_METHODS and callable(obj)


def _check_binop(operator: str, left: Any, right: Any) -> None:
    """Refuse, before computing it, a result too large to hold."""
    if operator == "%" and isinstance(left, str):
        _check_percent_format(left, right)
    sequences = (str, list, tuple)
    length = 0
    if operator == "*" and isinstance(left, sequences) and isinstance(right, int):
        length = len(left) * right
    elif operator == "*" and isinstance(right, sequences) and isinstance(left, int):
        length = len(right) * left
    elif operator == "+" and isinstance(left, sequences) and isinstance(right, sequences):
        length = len(left) + len(right)
    if length > MAX_VALUE_CHARS:
        raise _LimitReached(f"a value would be longer than {MAX_VALUE_CHARS} characters")
    both_int = isinstance(left, int) and isinstance(right, int)
    bits = 0
    if both_int and operator == "*":
        bits = left.bit_length() + right.bit_length()
    elif both_int and operator == "**" and abs(left) > 1:
        bits = right * left.bit_length()
    if bits > MAX_INT_BITS:
        raise _LimitReached("a number would be too large")


_SCALARS = (str, int, float, Decimal, bool, datetime, date, type(None))


def _is_data(value: Any, depth: int = 0) -> bool:
    """Values a template may print or filter: template data, literals and lazy sequences of them.
    Macros, loop objects, the template itself and functions are not: their text tells about code."""
    if isinstance(value, (*_SCALARS, _Record, Undefined, range, Iterator)):
        return True
    if isinstance(value, (list, tuple)):
        return depth < 20 and all(_is_data(item, depth + 1) for item in value)
    if isinstance(value, dict):
        return depth < 20 and all(_is_data(k, depth + 1) and _is_data(v, depth + 1) for k, v in value.items())
    return False


def _printable(value: Any, depth: int = 0) -> Any:
    """The value, if printing it shows only data; a missing value inside a list is named."""
    if isinstance(value, Undefined):
        str(value)  # raises, naming the value
    if not _is_data(value):
        raise SecurityError(f"{type(value).__name__} objects cannot be printed")
    if isinstance(value, (list, tuple)) and depth < 20:
        for item in value:
            _printable(item, depth + 1)
    return value


def _finalize(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, Iterator):
        value = list(value)  # a lazy filter result prints as its items, not as a generator
    return _printable(value)


# One %-directive: optional mapping key, flags, width, precision, conversion.
_PERCENT = re.compile(r"%(?:\([^)]*\))?[-+ #0]*(\*|\d*)(?:\.(\*|\d*))?(.?)")


def _check_percent_format(text: str, arguments: Any) -> None:
    """`"%.2f" % price` is fine; widths that build huge strings and reprs of objects are not."""
    for width, precision, conversion in _PERCENT.findall(text):
        if "*" in (width, precision) or len(width) > 2 or len(precision) > 2:
            raise SecurityError("%-formats with a width or precision over 99 are not allowed in templates")
        if conversion in ("r", "a"):
            raise SecurityError("%r and %a are not allowed in templates")
    values = arguments.values() if isinstance(arguments, Mapping) else (arguments,)
    for value in values:
        _printable(value)


def _sized(function: Callable[..., Any]) -> Callable[..., Any]:
    """A built-in filter whose result may not outgrow the limits."""

    # wraps() copies Jinja's pass_context / pass_eval_context marks too.
    @wraps(function)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        for value in (*args, *kwargs.values()):
            if not isinstance(value, (EvalContext, Context, Environment)) and not _is_data(value):
                raise SecurityError(f"{type(value).__name__} objects cannot be filtered")
        return _check_size(function(*args, **kwargs), "a filter's result")

    return bounded


def _bounded_range(*args: int) -> range:
    values = range(*args)
    if len(values) > MAX_RANGE:
        raise _LimitReached(f"range() is limited to {MAX_RANGE} items")
    return values


def _bounded_loop(iterable: Any) -> Iterator[Any]:
    if isinstance(iterable, _RecordMethod):
        _fail_missing(iterable.path)
    for item in iterable:
        _spend()
        yield item


def _fail_missing(path: str) -> NoReturn:
    raise UndefinedError(f"`{path}` has no value and no default")


@pass_eval_context
def _bounded_concat(eval_ctx: Any, parts: tuple[Any, ...]) -> str:
    texts = [part if isinstance(part, str) else _text_of(part) for part in parts]
    if sum(len(text) for text in texts) > MAX_VALUE_CHARS:
        raise _LimitReached(f"a value would be longer than {MAX_VALUE_CHARS} characters")
    return markup_join(texts) if eval_ctx.autoescape else str_join(texts)


def _text_of(value: Any) -> Any:
    _printable(value)
    if hasattr(value, "__html__"):
        return value
    return str(value)


@pass_eval_context
def _join(eval_ctx: Any, value: Iterable[Any], separator: str = "", attribute: str | int | None = None) -> str:
    items = list(value)
    _check_size(items)
    if attribute is not None:
        items = [eval_ctx.environment.getitem(item, attribute) for item in items]
    texts = [_text_of(item) for item in items]
    if sum(len(text) for text in texts) + len(separator) * max(len(texts) - 1, 0) > MAX_VALUE_CHARS:
        raise _LimitReached(f"a value would be longer than {MAX_VALUE_CHARS} characters")
    return str(jinja_filters.do_join(eval_ctx, texts, separator))


@pass_eval_context
def _replace(eval_ctx: Any, value: Any, old: str, new: str, count: int | None = None) -> str:
    text = _text_of(value)
    hits = text.count(str(old)) if count is None else min(count, text.count(str(old)))
    if len(text) + hits * (len(str(new)) - len(str(old))) > MAX_VALUE_CHARS:
        raise _LimitReached(f"a value would be longer than {MAX_VALUE_CHARS} characters")
    return jinja_filters.do_replace(eval_ctx, value, old, new, count)


# ---------------------------------------------------------------------------------------------
# Filters for shops.


def _number(value: Any, filter_name: str) -> Decimal:
    if isinstance(value, Undefined):
        str(value)  # raises, naming the value
    if isinstance(value, bool):
        raise TypeError(f"{filter_name} expects a number, not a boolean")
    try:
        number = Decimal(str(value).replace(",", "").strip()) if isinstance(value, str) else Decimal(value)
    except (InvalidOperation, TypeError, ValueError) as exc:
        raise TypeError(f"{filter_name} expects a number, got {type(value).__name__}") from exc
    if not number.is_finite() or abs(number) >= Decimal(10) ** 30:
        raise TypeError(f"{filter_name} expects a finite number below 10^30")
    return number


def _format_money(number: Decimal, symbol: str, decimals: int) -> str:
    quantum = Decimal(1).scaleb(-decimals)
    rounded = number.quantize(quantum, rounding=ROUND_HALF_UP)
    sign = "-" if rounded < 0 else ""
    return f"{sign}{symbol}{abs(rounded):,.{decimals}f}"


def _yen(value: Any) -> str:
    """1200 → "¥1,200"."""
    return _format_money(_number(value, "yen"), "¥", 0)


def _currency(value: Any, code: str = "JPY") -> str:
    """1200 → "¥1,200" (JPY), 12.5 | currency("USD") → "$12.50"; unknown codes: "12.50 XYZ"."""
    number = _number(value, "currency")
    code = str(code).upper()
    if code in _CURRENCIES:
        symbol, decimals = _CURRENCIES[code]
        return _format_money(number, symbol, decimals)
    return f"{_format_money(number, '', 2)} {code}"


def _date(value: Any, format: str = "%Y-%m-%d", tz: str | None = None) -> str:
    """An ISO timestamp (or date) formatted with strftime, in time zone `tz` (e.g. "Asia/Tokyo")."""
    if isinstance(value, Undefined):
        str(value)  # raises, naming the value
    moment: date
    if isinstance(value, (datetime, date)):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError as exc:
            raise ValueError(f"date expects an ISO date or timestamp, got {value[:40]!r}") from exc
    else:
        raise TypeError(f"date expects an ISO date or timestamp, got {type(value).__name__}")
    if isinstance(moment, datetime) and tz:
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        moment = moment.astimezone(_zone(tz))
    return moment.strftime(str(format)[:200])


def _zone(name: str) -> tzinfo:
    match = _OFFSET.match(name.strip())
    if match:
        sign, hours, minutes = match.groups()
        offset = timedelta(hours=int(hours), minutes=int(minutes))
        return timezone(-offset if sign == "-" else offset)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        if name in _FIXED_ZONES:
            return timezone(timedelta(hours=_FIXED_ZONES[name]))
        raise ValueError(f"unknown time zone {name[:40]!r}") from exc


# ---------------------------------------------------------------------------------------------
# Compiling: refuse what a mail template must not do, and bound every loop and concatenation.


def _prepare(tree: nodes.Template, part: str) -> nodes.Template:
    forbidden: tuple[tuple[type[nodes.Node], str], ...] = (
        (nodes.Extends, "{% extends %}"),
        (nodes.Include, "{% include %}"),
        (nodes.Import, "{% import %}"),
        (nodes.FromImport, "{% from ... import %}"),
        (nodes.EvalContextModifier, "{% autoescape %}"),
    )
    for node_type, label in forbidden:
        node = next(tree.find_all(node_type), None)
        if node is not None:
            message = f"{part}: line {node.lineno}: {label} is not available in mail templates"
            raise InvalidTemplate(message, field=part, line=node.lineno)
    for loop in tree.find_all(nodes.For):
        loop.iter = nodes.Filter(loop.iter, _LOOP_GUARD, [], [], None, None, lineno=loop.iter.lineno)
    for concat in list(tree.find_all(nodes.Concat)):
        operands = nodes.Tuple(list(concat.nodes), "load", lineno=concat.lineno)
        guarded = nodes.Filter(operands, _CONCAT, [], [], None, None, lineno=concat.lineno)
        # The node is changed in place: its parent keeps pointing at the same object.
        concat.nodes = [guarded]
    return tree


# ---------------------------------------------------------------------------------------------
# The renderer.


class JinjaRenderer:
    """Renders one locale of a template for one recipient."""

    def __init__(self) -> None:
        self._environment = _MailEnvironment()
        self._inliner = css_inline.CSSInliner(
            keep_at_rules=True,  # media queries stay in a <style> for the clients that read them
            load_remote_stylesheets=False,  # a template must not make us fetch anything
            keep_link_tags=False,
        )
        self._compile = lru_cache(maxsize=256)(self._compile_uncached)

    def validate(self, content: MailContent) -> None:
        """Compile-time checks when a template is saved; raises InvalidTemplate naming the part and line."""
        for part in _PARTS:
            source = getattr(content, part)
            if source is None:
                continue
            if part != "text" and not source.strip():
                raise InvalidTemplate(f"{part}: must not be empty", field=part)
            self._compile(part, source)

    def render(self, content: MailContent, variables: Mapping[str, Any], *, footer: Footer | None) -> RenderedMail:
        data = dict(variables)
        if footer is not None:
            data.setdefault("unsubscribe_url", footer.unsubscribe_url)
            data.setdefault("sender", {"name": footer.sender_name, "address": footer.sender_address})
        try:
            context = {str(key): _wrap(value, str(key)) for key, value in data.items() if value is not None}
        except RecursionError:
            raise TemplateRenderError("the template variables nest too deeply", field="variables") from None
        written_text = content.text if content.text and content.text.strip() else None
        with _budgeted():
            subject = self._render_part("subject", content.subject, context)
            html = self._render_part("html", content.html, context)
            text = self._render_part("text", written_text, context) if written_text is not None else None
        if text is None:
            text = html_to_text(html)
        # The footer goes in after inlining, so the template's CSS cannot restyle or hide it.
        html = self._inline_css(html)
        if footer is not None:
            html = add_html_footer(html, footer)
            text = add_text_footer(text, footer)
        if len(html) > MAX_HTML_CHARS or len(text) > MAX_HTML_CHARS:
            raise TemplateRenderError(f"html: the mail would be longer than {MAX_HTML_CHARS} characters", field="html")
        return RenderedMail(subject=clean_subject(subject), html=html, text=text)

    def _compile_uncached(self, part: str, source: str) -> Template:
        if len(source) > MAX_SOURCE_CHARS:
            raise InvalidTemplate(f"{part}: must be at most {MAX_SOURCE_CHARS} characters", field=part)
        environment = self._environment
        try:
            tree = _prepare(environment.parse(source, name=part), part)
            code = environment.compile(tree, name=part)
        except TemplateSyntaxError as exc:
            line = exc.lineno
            raise InvalidTemplate(f"{part}: line {line}: {exc.message}", field=part, line=line) from None
        return environment.template_class.from_code(environment, code, environment.make_globals(None))

    def _render_part(self, part: str, source: str, context: Mapping[str, Any]) -> str:
        try:
            template = self._compile(part, source)
        except InvalidTemplate as exc:
            raise TemplateRenderError(exc.message, field=part, line=exc.line) from None
        chunks: list[str] = []
        size = 0
        try:
            for chunk in template.generate(context):
                size += len(chunk)
                if size > MAX_HTML_CHARS:
                    raise _LimitReached(f"the rendered {part} would be longer than {MAX_HTML_CHARS} characters")
                _spend()
                chunks.append(chunk)
        except Exception as exc:  # every failure of an untrusted template is the template's own
            raise _render_error(part, exc) from None
        return "".join(chunks)

    def _inline_css(self, html: str) -> str:
        doctype = re.match(r"\s*<!doctype[^>]*>", html, re.IGNORECASE)
        try:
            inlined = self._inliner.inline(html)
        except (css_inline.InlineError, ValueError) as exc:
            raise TemplateRenderError(f"html: the CSS could not be inlined: {exc}", field="html") from None
        if doctype and not inlined.lstrip().lower().startswith("<!doctype"):
            inlined = doctype.group(0).strip() + "\n" + inlined
        return inlined


def _render_error(part: str, exc: BaseException) -> TemplateRenderError:
    line = _template_line(exc)
    where = f"{part}: line {line}: " if line else f"{part}: "
    if isinstance(exc, UndefinedError):
        message = exc.message or "a value is undefined"
        variable = _variable_in(message)
        return TemplateRenderError(where + message, field=part, line=line, variable=variable)
    if isinstance(exc, SecurityError):
        return TemplateRenderError(where + f"not allowed: {exc}", field=part, line=line)
    if isinstance(exc, _LimitReached):
        return TemplateRenderError(where + str(exc), field=part, line=line)
    if isinstance(exc, RecursionError):
        return TemplateRenderError(where + "macros or loops nest too deeply", field=part, line=line)
    if isinstance(exc, MemoryError):
        return TemplateRenderError(where + "the template needs too much memory", field=part, line=line)
    detail = str(exc)[:200]
    return TemplateRenderError(where + f"{type(exc).__name__}: {detail}", field=part, line=line)


def _variable_in(message: str) -> str | None:
    match = re.search(r"`([^`]+)` has no value", message) or re.search(r"'([^']+)' is undefined", message)
    return match.group(1) if match else None


def _template_line(exc: BaseException) -> int | None:
    line = None
    traceback = exc.__traceback__
    while traceback is not None:
        if traceback.tb_frame.f_code.co_filename == "<template>":
            line = traceback.tb_lineno
        traceback = traceback.tb_next
    return line


def clean_subject(subject: str) -> str:
    """One line (no header injection), no control characters, collapsed spaces, bounded length."""
    one_line = _CONTROL.sub("", _LINE_BREAKS.sub(" ", subject))
    collapsed = " ".join(one_line.split())
    if len(collapsed) > MAX_SUBJECT_CHARS:
        collapsed = collapsed[: MAX_SUBJECT_CHARS - 1].rstrip() + "…"
    return collapsed


# ---------------------------------------------------------------------------------------------
# The unsubscribe footer.

_FOOTER_TEXTS = {
    "ja": {
        "sender": "{name}（{address}）",  # noqa: RUF001
        "sent_by": "このメールは{sender}より配信しています。",
        "unsubscribe_html": "今後のメール配信を希望されない場合は、{link}から配信を停止できます。",
        "link": "こちら",
        "unsubscribe_text": "配信停止はこちら: {url}",
    },
    "en": {
        "sender": "{name} <{address}>",
        "sent_by": "This email was sent by {sender}.",
        "unsubscribe_html": "Don't want these emails? {link}.",
        "link": "Unsubscribe",
        "unsubscribe_text": "Unsubscribe: {url}",
    },
}
_FOOTER_STYLE = (
    "margin:24px 0 0;padding:12px 0 0;border-top:1px solid #dddddd;font-size:12px;line-height:1.6;color:#666666;"
)


def _footer_texts(footer: Footer) -> dict[str, str]:
    return _FOOTER_TEXTS[pick_locale(_FOOTER_TEXTS, footer.locale, "en")]


def _sent_by(footer: Footer, texts: Mapping[str, str]) -> str:
    sender = footer.sender_address
    if footer.sender_name and footer.sender_name.strip():
        sender = texts["sender"].format(name=footer.sender_name.strip(), address=footer.sender_address)
    return texts["sent_by"].format(sender=sender)


def has_unsubscribe_link(html: str, url: str) -> bool:
    """Whether the HTML shows `url` to the reader: as a link or as visible text."""
    finder = _UrlFinder(url)
    finder.feed(html)
    finder.close()
    return finder.found


def add_html_footer(html: str, footer: Footer) -> str:
    if has_unsubscribe_link(html, footer.unsubscribe_url):
        return html
    texts = _footer_texts(footer)
    escape = html_lib.escape
    link = (
        f'<a href="{escape(footer.unsubscribe_url)}" style="color:#666666;text-decoration:underline;">'
        f"{escape(texts['link'])}</a>"
    )
    paragraphs = [escape(_sent_by(footer, texts))]
    if footer.postal_address and footer.postal_address.strip():
        paragraphs.append(escape(footer.postal_address.strip()).replace("\n", "<br>"))
    paragraphs.append(escape(texts["unsubscribe_html"]).replace("{link}", link))
    block = (
        f'<div class="tagmail-footer" style="{_FOOTER_STYLE}">'
        + "".join(f'<p style="margin:0 0 4px;">{paragraph}</p>' for paragraph in paragraphs)
        + "</div>"
    )
    closing = list(re.finditer(r"</body\s*>", html, re.IGNORECASE))
    if closing:
        at = closing[-1].start()
        return html[:at] + block + html[at:]
    return html + block


def add_text_footer(text: str, footer: Footer) -> str:
    if footer.unsubscribe_url in text:
        return text
    texts = _footer_texts(footer)
    lines = ["--", _sent_by(footer, texts)]
    if footer.postal_address and footer.postal_address.strip():
        lines.extend(line.strip() for line in footer.postal_address.strip().splitlines())
    lines.append(texts["unsubscribe_text"].format(url=footer.unsubscribe_url))
    return text.rstrip() + "\n\n" + "\n".join(lines) + "\n"


class _UrlFinder(HTMLParser):
    def __init__(self, url: str) -> None:
        super().__init__(convert_charrefs=True)
        self._url = url.strip()
        self._hidden = _HiddenTracker()
        self.found = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._hidden.start(tag, attrs)
        if tag == "a" and not self._hidden.active:
            href = dict(attrs).get("href") or ""
            self.found = self.found or href.strip() == self._url

    def handle_endtag(self, tag: str) -> None:
        self._hidden.end(tag)

    def handle_data(self, data: str) -> None:
        if not self._hidden.active and self._url in data:
            self.found = True


# ---------------------------------------------------------------------------------------------
# Plain text from HTML.

_SKIPPED = frozenset({"head", "script", "style", "title", "template", "svg", "noscript", "object", "iframe"})
_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
)
_PARAGRAPHS = frozenset(
    {
        "p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "dl", "table", "blockquote", "pre", "address",
        "figure", "form", "fieldset",
    }
)  # fmt: skip
_LINES = frozenset(
    {
        "div", "tr", "li", "dt", "dd", "section", "article", "header", "footer", "main", "nav", "aside",
        "center", "figcaption", "caption", "tbody", "thead", "tfoot", "body", "html",
    }
)  # fmt: skip
_INVISIBLE = frozenset({"\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u034f", "\u00ad"})
_URL_TOKEN = re.compile(r"(https?://|mailto:|www\.)", re.IGNORECASE)
# Characters a Japanese line must not start with (kinsoku).
_NO_LINE_START = frozenset("、。，．,.!?！？)）」』】〕〉》・ーぁぃぅぇぉっゃゅょゎァィゥェォッャュョヮヵヶ々")  # noqa: RUF001


class _HiddenTracker:
    """Tracks elements the reader cannot see: skipped ones (head, script, style) and inline
    `display:none` ones (such as a preheader)."""

    def __init__(self) -> None:
        self._tag: str | None = None
        self._depth = 0

    @property
    def active(self) -> bool:
        return self._tag is not None

    def start(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _VOID:
            return
        if self._tag == "head" and tag == "body":  # a <head> left open ends where the body starts
            self._tag = None
        if self._tag is not None:
            if tag == self._tag:
                self._depth += 1
            return
        style = (dict(attrs).get("style") or "").replace(" ", "").lower()
        if tag in _SKIPPED or "display:none" in style or any(name == "hidden" for name, _ in attrs):
            self._tag, self._depth = tag, 1

    def end(self, tag: str) -> None:
        if self._tag is None:
            return
        if tag == self._tag:
            self._depth -= 1
            if self._depth <= 0:
                self._tag = None


@dataclass
class _Line:
    text: str
    gap: int  # line breaks before it: 1 new line, 2 a blank line
    first_prefix: str = ""
    prefix: str = ""
    preformatted: bool = False


class _TextBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[_Line] = []
        self._buffer: list[str] = []
        self._gap = 0
        self._hidden = _HiddenTracker()
        self._lists: list[list[Any]] = []  # [kind, items so far, width of the item marker]
        self._bullet: str | None = None
        self._links: list[tuple[str, int]] = []
        self._pre = 0

    # Structure

    def _flush(self, *, keep_empty: bool = False) -> None:
        text = "".join(self._buffer)
        if not self._pre:
            text = text.strip()
        self._buffer = []
        if not text and not keep_empty:
            return
        first_prefix = prefix = ""
        if self._lists:
            indent = "  " * (len(self._lists) - 1)
            marker_width = self._lists[-1][2]
            first_prefix = indent + (self._bullet or " " * marker_width)
            prefix = indent + " " * marker_width
        self.lines.append(_Line(text, self._gap if self.lines else 0, first_prefix, prefix, preformatted=self._pre > 0))
        self._bullet = None
        self._gap = 1

    def _block(self, gap: int) -> None:
        self._flush()
        self._gap = max(self._gap, gap)

    # HTMLParser

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        was_hidden = self._hidden.active
        self._hidden.start(tag, attrs)
        if was_hidden or self._hidden.active:
            return
        attributes = dict(attrs)
        if tag in ("ul", "ol") and self._lists:
            self._block(1)  # a nested list follows its item directly
        elif tag in _PARAGRAPHS:
            self._block(2)
        elif tag in _LINES:
            self._block(1)
        self._start_content(tag, attributes)

    def _start_content(self, tag: str, attributes: dict[str, str | None]) -> None:
        if tag in ("ul", "ol"):
            self._lists.append([tag, 0, 2])
        elif tag == "li":
            if not self._lists:
                self._lists.append(["ul", 0, 2])
            entry = self._lists[-1]
            entry[1] += 1
            self._bullet = f"{entry[1]}. " if entry[0] == "ol" else "- "
            entry[2] = len(self._bullet)
        elif tag == "br":
            self._flush(keep_empty=True)
        elif tag == "hr":
            self._block(2)
            self._buffer.append("-" * 24)
            self._block(2)
        elif tag == "img":
            alt = (attributes.get("alt") or "").strip()
            if alt:
                self._space()
                self._buffer.append(alt)
        elif tag in ("td", "th"):
            self._space()
        elif tag == "a":
            self._links.append(((attributes.get("href") or "").strip(), len(self._buffer)))
        elif tag == "pre":
            self._pre += 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if self._hidden.active:
            self._hidden.end(tag)
            return
        if tag == "a" and self._links:
            href, start = self._links.pop()
            self._end_link(href, start)
        elif tag in ("ul", "ol") and self._lists:
            self._block(1 if len(self._lists) > 1 else 2)
            self._lists.pop()
            return
        elif tag == "pre" and self._pre:
            self._flush()
            self._pre -= 1
        if tag in _PARAGRAPHS:
            self._block(2)
        elif tag in _LINES:
            self._block(1)

    def handle_data(self, data: str) -> None:
        if self._hidden.active:
            return
        data = "".join(character for character in data if character not in _INVISIBLE)
        if self._pre:
            lines = data.split("\n")
            for index, line in enumerate(lines):
                if index:
                    self._flush(keep_empty=True)
                self._buffer.append(line)
            return
        collapsed = re.sub(r"\s+", " ", data)
        if collapsed:
            self._buffer.append(collapsed)

    def close(self) -> None:
        super().close()
        self._flush()

    def _space(self) -> None:
        if self._buffer and not "".join(self._buffer[-1:]).endswith(" "):
            self._buffer.append(" ")

    def _end_link(self, href: str, start: int) -> None:
        if not href or href.startswith("#") or href.lower().startswith(("javascript:", "data:")):
            return
        shown = href[len("mailto:") :] if href.lower().startswith("mailto:") else href
        label = " ".join("".join(self._buffer[start:]).split())
        if not label:
            self._space()
            self._buffer.append(shown)
        elif label.rstrip("/") != shown.rstrip("/"):
            self._buffer.append(f" ({shown})")


def html_to_text(html: str) -> str:
    """The plain-text part of a mail written in HTML."""
    builder = _TextBuilder()
    builder.feed(html)
    builder.close()
    out: list[str] = []
    for line in builder.lines:
        if out:
            out.append("\n" * line.gap if line.gap else "\n")
        if line.preformatted:
            out.append(line.first_prefix + line.text.rstrip())
        else:
            out.append("\n".join(wrap(line.text, TEXT_WIDTH, line.first_prefix, line.prefix)))
    text = re.sub(r"\n{3,}", "\n\n", "".join(out)).strip("\n")
    return text + "\n" if text else ""


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(character) in "WF" else 1 for character in text)


def _units(text: str) -> list[tuple[str, bool]]:
    """Pieces a line may break between: (piece, space before it). URLs and Latin words stay
    whole; Japanese and Chinese text may break between any two characters."""
    units: list[tuple[str, bool]] = []
    for word in text.split(" "):
        if not word:
            continue
        space = True
        if _URL_TOKEN.search(word) or _width(word) == len(word):
            units.append((word, space))
            continue
        run = ""
        for character in word:
            if _width(character) == 2:
                if run:
                    units.append((run, space))
                    space = False
                    run = ""
                units.append((character, space))
                space = False
            else:
                run += character
        if run:
            units.append((run, space))
    return units


def wrap(text: str, width: int, first_prefix: str = "", prefix: str = "") -> list[str]:
    """Wrap at `width` columns (wide characters count two) without breaking URLs or words."""
    if _width(first_prefix + text) <= width:
        return [first_prefix + text]
    lines: list[str] = []
    current = first_prefix
    used = _width(first_prefix)
    empty = True
    for piece, space in _units(text):
        joiner = " " if space and not empty else ""
        piece_width = _width(piece) + len(joiner)
        overflow = used + piece_width > width
        holds_on = piece[0] in _NO_LINE_START and _width(piece) <= 2 and used + piece_width <= width + 2
        if overflow and not empty and not holds_on:
            lines.append(current.rstrip())
            current, used, empty = prefix + piece, _width(prefix) + _width(piece), False
            continue
        current += joiner + piece
        used += piece_width
        empty = False
    lines.append(current.rstrip())
    return lines
