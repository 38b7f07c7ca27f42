import { Alert, Button, Code, Group, Stack, Text } from "@mantine/core";
import { IconAlertTriangle } from "@tabler/icons-react";
import { useEffect, useRef } from "react";
import { useTranslation } from "react-i18next";
import type { TokenView } from "../../api/types";
import { CopyTextButton } from "../../components/copy-button";

interface Props {
  token: TokenView;
  secret: string;
  /** "I have copied it", or "Close anyway" after Escape / the close button. */
  onDone: () => void;
  /** Escape or the close button was pressed: ask before the secret is lost for good. */
  askingToClose: boolean;
  onKeepOpen: () => void;
}

/**
 * The one and only display of a token's plaintext. The secret lives in the dialog's state;
 * closing the dialog (or reloading) discards it for good, so Escape and the close button ask first.
 * Focus moves to "Copy token" when the secret appears (the form's button it replaces is gone).
 */
export function SecretReveal({ token, secret, onDone, askingToClose, onKeepOpen }: Props) {
  const { t } = useTranslation();
  const copyRef = useRef<HTMLButtonElement>(null);
  const keepRef = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    if (askingToClose) keepRef.current?.focus();
    else copyRef.current?.focus();
  }, [askingToClose]);

  return (
    <Stack>
      <Alert color="yellow" variant="light" icon={<IconAlertTriangle />} title={t("secret.title")} role="alert">
        {t("secret.warning")}
      </Alert>
      <Stack gap={4}>
        <Text size="sm" fw={500} id="secret-label">
          {t("secret.label", { name: token.name })}
        </Text>
        <Code block className="secret-box" aria-labelledby="secret-label" data-testid="token-secret">
          {secret}
        </Code>
      </Stack>
      {askingToClose ? (
        <Alert color="red" variant="light" title={t("secret.discardTitle")} role="alertdialog" aria-label={t("secret.discardTitle")}>
          <Stack gap="sm">
            <Text size="sm">{t("secret.discardBody")}</Text>
            <Group justify="flex-end">
              <Button ref={keepRef} variant="default" onClick={onKeepOpen}>
                {t("secret.keepOpen")}
              </Button>
              <Button color="red" onClick={onDone}>
                {t("secret.discard")}
              </Button>
            </Group>
          </Stack>
        </Alert>
      ) : (
        <Group justify="space-between">
          <CopyTextButton ref={copyRef} value={secret} label={t("secret.copy")} />
          <Button variant="default" onClick={onDone}>
            {t("secret.done")}
          </Button>
        </Group>
      )}
    </Stack>
  );
}
