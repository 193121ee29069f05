/* templates/templates.S - Envfile templates embedded for `devenv init`. */
	.section .rodata
	.global dv_template_default, dv_template_default_end
dv_template_default:
	.incbin "default.Envfile"
dv_template_default_end:
	.byte 0
	.section .note.GNU-stack,"",@progbits
