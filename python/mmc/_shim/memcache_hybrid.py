"""memcache_hybrid, served by mmc: importing it installs mmc.memcache_compat.

Put this directory first on PYTHONPATH (python3 -m mmc.memcache_compat
--shim-path prints it) so that every process - SGLang's spawned TP workers
too - that imports memcache_hybrid gets mmc's DistributedObjectStore.
"""
import mmc.memcache_compat as _compat

_compat.install()   # sys.modules["memcache_hybrid"] is mmc.memcache_compat now
