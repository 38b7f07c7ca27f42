import type { UseFormReturnType } from "@mantine/form";
import { ApiError } from "../api/client";

/**
 * Copies a 400's per-field errors (`errors: [{field, message}]`) onto the form.
 * Server field paths may be JSON pointers (`/name`) or dotted (`body.name`); `fieldMap` renames them.
 */
export function applyServerFieldErrors<T>(
  form: UseFormReturnType<T>,
  error: unknown,
  fieldMap: Record<string, string> = {},
): void {
  if (!(error instanceof ApiError) || error.fieldErrors.length === 0) return;
  const errors: Record<string, string> = {};
  for (const { field, message } of error.fieldErrors) {
    const key = field.replace(/^\/?(body[./])?/, "").replace(/\//g, ".");
    errors[fieldMap[key] ?? key] = message;
  }
  form.setErrors(errors);
}
