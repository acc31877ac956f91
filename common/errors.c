/* errors.c: messages and conversions for the error table. */
#include "common/errors.h"

#include <errno.h>

const char *rn_strerror(int err)
{
	switch (err) {
	case RN_OK:
		return "success";
#define RN_ERR_MSG(name, value, msg) \
	case -(value):               \
		return msg;
		RN_ERROR_TABLE(RN_ERR_MSG)
#undef RN_ERR_MSG
	default:
		return "unknown error";
	}
}

const char *rn_errname(int err)
{
	switch (err) {
	case RN_OK:
		return "NONE";
#define RN_ERR_NAME(name, value, msg) \
	case -(value):                \
		return #name;
		RN_ERROR_TABLE(RN_ERR_NAME)
#undef RN_ERR_NAME
	default:
		return "UNKNOWN";
	}
}

int rn_err_to_wire(int err)
{
	if (err == RN_OK)
		return 0;
	if (err <= -2000 || err > 0)
		return -RN_E_UNKNOWN_SERVER_ERROR;
	return -err;
}

int rn_err_from_wire(int code)
{
	if (code == 0)
		return RN_OK;
	if (code < 0 || code >= 2000)
		return RN_E_UNKNOWN_SERVER_ERROR;
	return -code;
}

int rn_err_retriable(int err)
{
	switch (err) {
	case RN_E_LEADER_NOT_AVAILABLE:
	case RN_E_NOT_LEADER_OR_FOLLOWER:
	case RN_E_REQUEST_TIMED_OUT:
	case RN_E_BROKER_NOT_AVAILABLE:
	case RN_E_NETWORK_EXCEPTION:
	case RN_E_COORDINATOR_LOAD_IN_PROGRESS:
	case RN_E_COORDINATOR_NOT_AVAILABLE:
	case RN_E_NOT_COORDINATOR:
	case RN_E_NOT_ENOUGH_REPLICAS:
	case RN_E_NOT_ENOUGH_REPLICAS_AFTER_APPEND:
	case RN_E_NOT_CONTROLLER:
	case RN_E_FENCED_LEADER_EPOCH:
	case RN_E_UNKNOWN_LEADER_EPOCH:
	case RN_E_OFFSET_NOT_AVAILABLE:
	case RN_E_SHUTTING_DOWN:
	case RN_E_TOO_MANY_REQUESTS:
	case RN_E_CONNECT:
	case RN_E_TIMEOUT:
	case RN_E_CLOSED:
	case RN_E_AGAIN:
		return 1;
	default:
		return 0;
	}
}

int rn_err_from_errno(int errnum)
{
	switch (errnum) {
	case 0:
		return RN_OK;
	case ENOMEM:
		return RN_E_NOMEM;
	case ENOENT:
		return RN_E_NOT_FOUND;
	case EEXIST:
		return RN_E_EXISTS;
	case EINVAL:
		return RN_E_INVAL;
	case EAGAIN:
		return RN_E_AGAIN;
	case ETIMEDOUT:
		return RN_E_TIMEOUT;
	case ECONNREFUSED:
	case EHOSTUNREACH:
	case ENETUNREACH:
		return RN_E_CONNECT;
	case EPIPE:
	case ECONNRESET:
		return RN_E_NETWORK_EXCEPTION;
	default:
		return RN_E_IO;
	}
}
