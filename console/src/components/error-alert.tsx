import { Alert } from "@mantine/core";
import { IconAlertCircle } from "@tabler/icons-react";
import { useTranslation } from "react-i18next";
import { ApiError } from "../api/client";

/** The user-facing sentence for any error: the problem+json `detail` when the server gave one. */
export function useErrorMessage() {
  const { t } = useTranslation();
  return (error: unknown): string => {
    if (error instanceof ApiError) {
      if (error.code === "network_error") return t("errors.network");
      if (error.detail) return error.detail;
      if (error.title) return error.title;
      return t("errors.status", { status: error.status });
    }
    if (error instanceof Error && error.message) return error.message;
    return t("errors.unknown");
  };
}

export function ErrorAlert({ error, title }: { error: unknown; title?: string }) {
  const { t } = useTranslation();
  const message = useErrorMessage();
  if (!error) return null;
  return (
    <Alert role="alert" color="red" variant="light" title={title ?? t("errors.title")} icon={<IconAlertCircle />}>
      {message(error)}
    </Alert>
  );
}
