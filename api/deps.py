"""The node a request is served by."""

from typing import Annotated, cast

from fastapi import Depends, Request

from ledger.node import Node


async def node_of(request: Request) -> Node:
    """async: an attribute read, done on the event loop (a sync dependency would cost every
    request a hop to a worker thread and back)."""
    return cast(Node, request.app.state.node)


NodeDep = Annotated[Node, Depends(node_of)]
