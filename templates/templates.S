/* templates/templates.S - Envfile templates embedded for `devenv init`
 * (templates/templates.c lists them; lines starting '@FILE' are rendered there). */
	.section .rodata
	.global dv_template_default, dv_template_default_end
dv_template_default:
	.incbin "default.Envfile"
dv_template_default_end:
	.byte 0
	.global dv_template_python, dv_template_python_end
dv_template_python:
	.incbin "python.Envfile"
dv_template_python_end:
	.byte 0
	.global dv_template_python_postgres, dv_template_python_postgres_end
dv_template_python_postgres:
	.incbin "python-postgres.Envfile"
dv_template_python_postgres_end:
	.byte 0
	.global dv_template_node, dv_template_node_end
dv_template_node:
	.incbin "node.Envfile"
dv_template_node_end:
	.byte 0
	.global dv_template_go, dv_template_go_end
dv_template_go:
	.incbin "go.Envfile"
dv_template_go_end:
	.byte 0
	.global dv_template_rust, dv_template_rust_end
dv_template_rust:
	.incbin "rust.Envfile"
dv_template_rust_end:
	.byte 0
	.global dv_template_c, dv_template_c_end
dv_template_c:
	.incbin "c.Envfile"
dv_template_c_end:
	.byte 0
	.section .note.GNU-stack,"",@progbits
