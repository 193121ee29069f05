/* container/seccomp_blob.S - Docker's default seccomp profile
 * (seccomp-default.json, see container/README.md), embedded in devenv. */
	.section .rodata
	.global ctr_seccomp_blob
	.global ctr_seccomp_blob_end
ctr_seccomp_blob:
	.incbin "seccomp-default.json"
ctr_seccomp_blob_end:
	.byte 0
	.section .note.GNU-stack,"",@progbits
