"""Base models of the API schema and the path parameters several nouns share.

``In`` models validate request bodies (strict JSON types, unknown fields
refused); ``Out`` models render the views of :mod:`regauth.admin` (read from
their attributes). Query models are lax, because query strings are text.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from regauth.admin import validation


class In(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class Out(BaseModel):
    model_config = ConfigDict(frozen=True, from_attributes=True)


class Query(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class Params(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# The schema shows the one name grammar of regauth.admin.validation (the use cases check it too).
NAME_PATTERN = f"^{validation._NAME.pattern}$"
Name = Annotated[
    str, Field(max_length=64, pattern=NAME_PATTERN, description=validation.NAME_GRAMMAR)
]
NameParam = Annotated[
    str,
    Field(
        max_length=64,
        pattern=NAME_PATTERN,
        description=f"a user, robot or group name: {validation.NAME_GRAMMAR}",
    ),
]
TokenIdParam = Annotated[str, Field(min_length=1, max_length=64, description="a token id")]


class UserPath(Params):
    name: NameParam


class UserTokenPath(Params):
    name: NameParam
    token_id: TokenIdParam


class TokenPath(Params):
    token_id: TokenIdParam
