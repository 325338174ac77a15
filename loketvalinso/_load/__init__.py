"""The one owner of a load, from the first request to the list of parsed pages.

``strategies`` (pure paging rules) · ``walk`` (the one paginate loop) · ``decode`` (the
decoders it takes, typed by ``pages.PageDecoder``) · ``frame_cache`` (parsed frames kept next to
cached responses) · ``pools`` (the page and parse threads) · ``report`` (``LoadReport``, the owner
of a load's timing and status) · ``progress`` (bars). It imports ``_transport`` and ``_frames``,
never the loaders above it.
"""
