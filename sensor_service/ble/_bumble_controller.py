"""A bumble virtual controller with the fixes the in-process link needs.

bumble's :class:`~bumble.controller.Controller` models an LE controller on a
:class:`~bumble.link.LocalLink`. Two gaps matter for a BLE reader:

* LE Create Connection Cancel is acknowledged but the pending connection is never
  completed, so a connect to an absent address hangs forever (BLE-NOTES pitfall 3).
  :class:`VirtualController` completes it with status 0x02 (Unknown Connection
  Identifier), as a real controller does, so bumble's ``connect_le(timeout=)`` works.
* The default ACL data packet length is 27 bytes (pitfall 9); we use 251.

:func:`terminate_le_connection` injects an LE disconnection on both controllers of a
connection, which is how link loss (supervision timeout) is simulated (pitfall 11).
"""

from __future__ import annotations

import asyncio
from typing import Any

from bumble import hci, ll
from bumble.controller import Controller

__all__ = ["ACL_PACKET_LENGTH", "VirtualController", "terminate_le_connection"]

ACL_PACKET_LENGTH = 251
"""ACL data packet length advertised by the virtual controllers, in bytes."""


class VirtualController(Controller):
    """bumble controller that completes a cancelled LE connect and uses 251-byte ACL packets."""

    acl_data_packet_length = ACL_PACKET_LENGTH
    le_acl_data_packet_length = ACL_PACKET_LENGTH
    supported_max_tx_octets = ACL_PACKET_LENGTH
    supported_max_rx_octets = ACL_PACKET_LENGTH
    suggested_max_tx_octets = ACL_PACKET_LENGTH

    def on_hci_le_create_connection_cancel_command(self, _command: Any) -> Any:
        """Cancel a pending LE connect and report it as failed with status 0x02."""
        pending = self.pending_le_connection
        if pending is None:
            return hci.HCI_StatusReturnParameters(hci.HCI_ErrorCode.COMMAND_DISALLOWED_ERROR)
        self.pending_le_connection = None
        event = hci.HCI_LE_Connection_Complete_Event(
            status=hci.HCI_ErrorCode.UNKNOWN_CONNECTION_IDENTIFIER_ERROR,
            connection_handle=0,
            role=hci.Role.CENTRAL,
            peer_address_type=pending.peer_address_type,
            peer_address=pending.peer_address,
            connection_interval=0,
            peripheral_latency=0,
            supervision_timeout=0,
            central_clock_accuracy=0,
        )
        # The Command Complete for the cancel must reach the host first.
        asyncio.get_running_loop().call_soon(self.send_hci_packet, event)
        return hci.HCI_StatusReturnParameters(hci.HCI_ErrorCode.SUCCESS)


def terminate_le_connection(controller: Controller, peer_address: hci.Address, reason: int) -> bool:
    """Drop the LE connection to ``peer_address`` on ``controller`` and on its peer.

    Returns ``False`` when ``controller`` has no LE connection to that address.
    """
    connection = controller.le_connections.get(peer_address)
    if connection is None:
        return False
    connection.send_ll_control_pdu(ll.TerminateInd(reason))
    controller.on_le_disconnected(connection, reason)
    return True
