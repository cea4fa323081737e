"""The node a request is served by."""

from typing import Annotated, cast

from fastapi import Depends, Request

from ledger.node import Node


def node_of(request: Request) -> Node:
    return cast(Node, request.app.state.node)


NodeDep = Annotated[Node, Depends(node_of)]
