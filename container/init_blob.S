/* container/init_blob.S - the static init (container/devenv-init), embedded
 * in devenv and executed from a sealed memfd (see ns.c). */
	.section .rodata
	.balign 16
	.global ctr_init_blob
	.global ctr_init_blob_end
ctr_init_blob:
	.incbin "devenv-init"
ctr_init_blob_end:
	.section .note.GNU-stack,"",@progbits
