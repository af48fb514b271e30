/*
** json.c: JSON decoding through cJSON (placeholder opener; the chat work fills it in).
*/
#include "lqora.h"


void lqora_open_json(lua_State *L) {
  (void)L;
}
