import { Alert, Button, Code, Group, Stack, Text } from "@mantine/core";
import { IconAlertTriangle } from "@tabler/icons-react";
import { useTranslation } from "react-i18next";
import type { TokenView } from "../../api/types";
import { CopyTextButton } from "../../components/copy-button";

/**
 * The one and only display of a token's plaintext. The secret lives in the dialog's state;
 * closing the dialog (or reloading) discards it for good.
 */
export function SecretReveal({ token, secret, onDone }: { token: TokenView; secret: string; onDone: () => void }) {
  const { t } = useTranslation();
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
      <Group justify="space-between">
        <CopyTextButton value={secret} label={t("secret.copy")} />
        <Button variant="default" onClick={onDone}>
          {t("secret.done")}
        </Button>
      </Group>
    </Stack>
  );
}
