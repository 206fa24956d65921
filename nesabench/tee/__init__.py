"""A simulated trusted execution environment: real attestation and sealing, a cited cost model.

There is no enclave hardware here. What crosses the enclave boundary is real cryptography
(``attestation``, ``sealing``); what the hardware would cost is modeled from published constants
(``profile``, ``cost_model``) and from the page accesses the model really makes (``memory_trace``,
``epc``). See docs/tee.md.
"""
