"""Schemathesis hooks (SCHEMATHESIS_HOOKS=schemathesis_hooks): how to send a `message/rfc822`
body (the message injection route) and an `application/mbox` one (the import route), which
Schemathesis cannot serialise by itself."""
import schemathesis


@schemathesis.serializer("message/rfc822")
class RFC822:
    def as_requests(self, context, value):
        return {"data": value if isinstance(value, bytes) else str(value).encode()}

    def as_werkzeug(self, context, value):
        return {"data": value if isinstance(value, bytes) else str(value).encode()}


@schemathesis.serializer("application/mbox")
class Mbox(RFC822):
    pass


@schemathesis.hook
def map_query(context, query):
    """`wait` long-polls up to 120 s: the contract run keeps it at 0 (the long poll itself is
    tested in crates/web and by mailstack-test's wait_for_message)."""
    if query and "wait" in query:
        query["wait"] = "0"
    return query
